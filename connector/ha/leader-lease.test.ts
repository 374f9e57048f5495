import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../logger.js';
import { DEADLINE_FRACTION, LeaderLease, type LeaseClocks, type LeaseStore } from './leader-lease.js';
import { ErrorCodes, SluiceError } from '../errors.js';

/** A KV bucket in memory: revisions rise across keys, like a stream's sequences. */
class MemoryStore implements LeaseStore {
  seq = 0;
  readonly entries = new Map<string, { value: string; revision: number }>();
  constructor(readonly maxAgeMs = 0) {}
  async create(key: string, value: string) {
    if (this.entries.has(key)) return null;
    return this.#put(key, value);
  }
  async update(key: string, value: string, revision: number) {
    if (this.entries.get(key)?.revision !== revision) return null;
    return this.#put(key, value);
  }
  async get(key: string) {
    return this.entries.get(key) ?? null;
  }
  async remove(key: string, revision: number) {
    if (this.entries.get(key)?.revision === revision) this.entries.delete(key);
  }
  #put(key: string, value: string) {
    const revision = ++this.seq;
    this.entries.set(key, { value, revision });
    return revision;
  }
}

/** Clocks that follow vitest's fake timers (Date.now is faked; the monotonic one follows it). */
const clocks: LeaseClocks = { monotonic: () => Date.now(), wall: () => Date.now() };

function lease(store: LeaseStore, holder: string, ttlMs = 3000) {
  return new LeaderLease({ store, key: 'connector.sluice', ttlMs, log: silentLogger(), holder, clocks });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('LeaderLease', () => {
  it('one holder at a time; the epoch is the acquiring revision; release hands over at once', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    const a = lease(store, 'a');
    const b = lease(store, 'b');
    expect(await a.acquire(new AbortController().signal)).toBe(1);
    expect(a.held).toBe(true);
    const standby: string[] = [];
    const bDone = b.acquire(new AbortController().signal, (h) => standby.push(h));
    await vi.advanceTimersByTimeAsync(2000);
    expect(standby).toEqual(['a']);
    expect(b.held).toBe(false);
    expect(() => b.check()).toThrow(SluiceError);
    await a.release();
    expect(a.held).toBe(false);
    await vi.advanceTimersByTimeAsync(400);
    const epoch = await bDone;
    expect(epoch).toBeGreaterThan(1);
    expect(b.epoch).toBe(epoch);
    expect(b.held).toBe(true);
  });

  it('renews while held; a paused holder finds its deadline past before a standby can take over', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    const a = lease(store, 'a');
    await a.acquire(new AbortController().signal);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.held).toBe(true); // renewed every ttl/5
    // A pause: no timer of `a` runs while the clock moves (SIGSTOP). Only the monotonic clock moves.
    let paused = 0;
    const frozen: LeaseClocks = { monotonic: () => Date.now() + paused, wall: () => Date.now() };
    const p = new LeaderLease({
      store,
      key: 'connector.other',
      ttlMs: 3000,
      log: silentLogger(),
      holder: 'p',
      clocks: frozen,
    });
    await p.acquire(new AbortController().signal);
    paused = 3000 * DEADLINE_FRACTION;
    let err: unknown;
    try {
      p.check();
    } catch (e) {
      err = e;
    }
    expect((err as SluiceError).code).toBe(ErrorCodes.leaseLost);
    expect(p.lost.aborted).toBe(true);
    await a.release();
  });

  it('a standby takes over a lease whose revision stood still for the ttl, by compare-and-set', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    // A holder that died: its entry stays (no max_age) and is never renewed.
    store.entries.set('connector.sluice', {
      value: JSON.stringify({ holder: 'dead', since: '' }),
      revision: 5,
    });
    store.seq = 5;
    const b = lease(store, 'b');
    let got: number | null = null;
    void b.acquire(new AbortController().signal).then((e) => (got = e));
    await vi.advanceTimersByTimeAsync(2500);
    expect(got).toBeNull();
    await vi.advanceTimersByTimeAsync(1500);
    expect(got).toBe(6);
    expect(JSON.parse(store.entries.get('connector.sluice')!.value).holder).toBe('b');
  });

  it('loses the lease when a renewal is refused (someone else wrote it)', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    const a = lease(store, 'a');
    await a.acquire(new AbortController().signal);
    store.entries.set('connector.sluice', { value: '{"holder":"x"}', revision: ++store.seq });
    await vi.advanceTimersByTimeAsync(1100);
    expect(a.lost.aborted).toBe(true);
    expect(a.held).toBe(false);
  });

  it('loses the lease at its deadline when renewals go unanswered', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    const a = lease(store, 'a');
    await a.acquire(new AbortController().signal);
    store.update = () => new Promise(() => undefined); // NATS does not answer
    await vi.advanceTimersByTimeAsync(3000 * DEADLINE_FRACTION - 10);
    expect(a.lost.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(a.lost.aborted).toBe(true);
  });

  it('after losing the lease on its deadline, a holder nobody replaced starts a new term at once', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    const a = lease(store, 'a');
    const first = await a.acquire(new AbortController().signal);
    const update = store.update.bind(store);
    store.update = () => new Promise(() => undefined); // renewals stall
    await vi.advanceTimersByTimeAsync(3000);
    expect(a.held).toBe(false);
    store.update = update;
    const second = await a.acquire(new AbortController().signal);
    expect(second).toBeGreaterThan(first!);
    expect(a.held).toBe(true);
    await a.release();
  });

  it("trusts the bucket's max_age when it is shorter than the ttl", () => {
    expect(lease(new MemoryStore(2000), 'a', 5000).ttlMs).toBe(2000);
    expect(lease(new MemoryStore(0), 'a', 5000).ttlMs).toBe(5000);
  });
});
