/**
 * The consumer lease as a fence, with an in-memory compare-and-set store: a holder that renews
 * stays valid; a holder whose process stood still past the deadline (no timer ran: a SIGSTOP, a
 * frozen VM) finds its lease invalid on the first synchronous check, before any handler starts.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Leases } from './consumer-lease.js';
import type { ExpiringEntries } from './jetstream-client.js';

/** One key-value map with revisions; `stall` makes updates hang (a server that does not answer). */
function memoryEntries(): ExpiringEntries & { stall: boolean } {
  const m = new Map<string, { value: string; revision: number }>();
  let rev = 0;
  return {
    stall: false,
    async create(key, value) {
      if (m.has(key)) return null;
      m.set(key, { value, revision: ++rev });
      return rev;
    },
    async update(key, value, revision) {
      if (this.stall) return new Promise<number | null>(() => undefined);
      const e = m.get(key);
      if (!e || e.revision !== revision) return null;
      m.set(key, { value, revision: ++rev });
      return rev;
    },
    async remove(key, revision) {
      if (m.get(key)?.revision === revision) m.delete(key);
    },
    async get(key) {
      return m.get(key) ?? null;
    },
  };
}

/** Blocks the event loop for `ms`, as a stopped process would (no timer, no renewal runs). */
function standStill(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const log = pino({ level: 'silent' });

describe('consumer lease', () => {
  it('stays valid while it renews', async () => {
    // Renewals every 300 ms, deadline 810 ms after each: only a 500 ms stall of this test's own
    // event loop could fail it.
    const leases = Leases.over(memoryEntries(), log, 900);
    const lease = (await leases.acquire('c', new AbortController().signal))!;
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 200));
      expect(lease.valid(), `check ${i}`).toBe(true);
    }
    expect(lease.lost.aborted).toBe(false);
    await lease.release();
    expect(lease.valid()).toBe(false);
  });

  it('is invalid, and lost, at the first check after the process stood still past its deadline', async () => {
    const entries = memoryEntries();
    const leases = Leases.over(entries, log, 100);
    const lease = (await leases.acquire('c', new AbortController().signal))!;
    expect(lease.valid()).toBe(true);
    entries.stall = true; // renewals no longer come back either
    standStill(95); // > 0.9 × ttl since the acquiring write was sent; no renewal timer could run
    expect(lease.lost.aborted).toBe(false); // nothing has noticed yet...
    expect(lease.valid()).toBe(false); // ...the synchronous check does
    expect(lease.lost.aborted).toBe(true);
  });

  it("lets a paused holder's pull requests expire before a standby can take over", () => {
    for (const ttl of [3_000, 5_000, 30_000]) {
      const leases = Leases.over(memoryEntries(), log, ttl);
      // Earliest takeover after a pause: ttl after the last renewal, which came ≤ ttl/3 before it.
      const earliestTakeover = ttl - ttl / 3;
      expect(leases.pullExpiresMs).toBeGreaterThanOrEqual(1_000); // nats.js' minimum
      expect(leases.pullExpiresMs, `ttl ${ttl}`).toBeLessThan(earliestTakeover - ttl / 5);
    }
  });

  it('is lost when another process wrote the lease', async () => {
    const entries = memoryEntries();
    const leases = Leases.over(entries, log, 60);
    const lease = (await leases.acquire('c', new AbortController().signal))!;
    const current = (await entries.get('consumer.c'))!;
    await entries.update('consumer.c', '{"holder":"other"}', current.revision);
    await new Promise<void>((resolve) => lease.lost.addEventListener('abort', () => resolve()));
    expect(lease.valid()).toBe(false);
  });
});
