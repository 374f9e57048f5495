/**
 * One active process per consumer: a lease in the KV bucket `<P>_LEASES` (key `consumer.<name>`).
 *
 * The holder renews it every ttl/3 with a revision check; entries expire `ttl` after their last
 * write, so when the holder dies its lease disappears and a standby process, trying every ttl/3,
 * creates it: takeover within ttl + ttl/3 (default 5 s + 1.7 s). A graceful stop deletes the lease
 * for an immediate takeover. A holder that cannot renew (revision changed, entry expired, NATS
 * unreachable past the ttl) stops handling at once.
 *
 * A fence for what has not started: the holder trusts its lease only until 0.9 × ttl after it
 * *sent* its last successful renewal (the entry expires ttl after the server stored it, later
 * still), and `valid()` checks that deadline synchronously, on the monotonic clock. The runner asks
 * before every handler call, so a holder paused past its deadline (SIGSTOP, a frozen VM) starts no
 * handler after it resumes: it gives the lease up and returns its queued events. A handler already
 * running when the pause began may still finish (its side effects cannot be recalled); deterministic
 * event ids and `ctx.once` make its publishes and effects happen once.
 *
 * Order across a paused holder: its pull requests stay registered on the server while it is frozen
 * (its connection looks alive for minutes), and the server would keep delivering new events to
 * them — events the new holder then gets only after their ack wait, after it handled later events
 * of the same keys. So the holder's pull requests expire after {@link Leases.pullExpiresMs}
 * (0.4 × ttl): the new holder takes over no earlier than ttl after the last renewal stored, and
 * renewals come every ttl/3, so by then every request the frozen process sent has expired, and all
 * it was delivered is counted as unacknowledged when the new holder starts (and waited for, see
 * the runner's recovery). The margin (0.27 × ttl) covers a renewal that ran that much late.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { prefixedName } from '../../schemas/subjects.js';
import { expiringEntries, type ExpiringEntries, type JetStreamClient } from './jetstream-client.js';

/** Milliseconds a lease lives without renewal. */
export const LEASE_TTL_MS = 5_000;

export interface Lease {
  /** Aborted when the lease is lost. */
  readonly lost: AbortSignal;
  /**
   * Whether the lease may still be trusted (before its deadline, see the header). False also aborts
   * `lost` at once, synchronously.
   */
  valid(): boolean;
  /** Stops renewing and deletes the lease (so a standby takes over at once). */
  release(): Promise<void>;
}

/** The leases of a prefix. */
export class Leases {
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #entries: ExpiringEntries;
  readonly #ttl: number;
  readonly #log: Logger;

  private constructor(entries: ExpiringEntries, ttl: number, log: Logger) {
    this.#entries = entries;
    this.#ttl = ttl;
    this.#log = log;
  }

  /** How long the holder's pull requests live on the server (see the header): 0.4 × ttl, at least 1 s. */
  get pullExpiresMs(): number {
    return Math.max(1_000, Math.floor(this.#ttl * 0.4));
  }

  /** Leases over any compare-and-set store (tests use an in-memory one). */
  static over(entries: ExpiringEntries, log: Logger, ttlMs = LEASE_TTL_MS): Leases {
    return new Leases(entries, ttlMs, log);
  }

  static async open(
    client: JetStreamClient,
    prefix: string,
    log: Logger,
    ttlMs = LEASE_TTL_MS,
  ): Promise<Leases> {
    const bucket = prefixedName(prefix, 'LEASES');
    return new Leases(await expiringEntries(client, bucket, ttlMs), ttlMs, log);
  }

  /** Who holds a consumer's lease, or null. */
  async holderOf(consumer: string): Promise<string | null> {
    const e = await this.#entries.get(`consumer.${consumer}`);
    return e ? (JSON.parse(e.value) as { holder: string }).holder : null;
  }

  /** Waits until this process holds the consumer's lease; resolves null when `signal` aborts first. */
  async acquire(consumer: string, signal: AbortSignal): Promise<Lease | null> {
    const key = `consumer.${consumer}`;
    const value = JSON.stringify({ holder: this.holder, since: new Date().toISOString() });
    let waiting = false;
    while (!signal.aborted) {
      const rev = await this.#entries.create(key, value).catch((err: unknown) => {
        this.#log.warn({ err, consumer }, 'cannot reach the lease bucket; retrying');
        return null;
      });
      if (rev !== null) return this.#hold(key, value, rev);
      if (!waiting) {
        waiting = true;
        this.#log.info(
          { consumer, holder: await this.holderOf(consumer).catch(() => null) },
          'standing by: another process holds the consumer',
        );
      }
      await sleep(this.#ttl / 3, signal);
    }
    return null;
  }

  #hold(key: string, value: string, first: number): Lease {
    let revision = first;
    const lost = new AbortController();
    let stopped = false;
    let lastRenewed = Date.now();
    // Monotonic: the lease is trusted until 0.9 ttl after the last successful write was sent.
    let deadline = performance.now() + this.#ttl * 0.9;
    let busy = false;
    const lose = (why: string) => {
      if (stopped) return;
      this.#log.error({ key, why }, 'lost the consumer lease; stopping');
      stopped = true;
      clearInterval(timer);
      lost.abort();
    };
    const renew = async () => {
      if (stopped || busy) return;
      busy = true;
      const sent = performance.now();
      const r = await this.#entries.update(key, value, revision).catch(() => undefined);
      busy = false;
      if (stopped) return;
      if (r === null) return lose('another process wrote the lease');
      if (r === undefined && Date.now() - lastRenewed > this.#ttl * 0.8)
        return lose('the lease could not be renewed in time');
      if (r !== undefined) {
        revision = r;
        lastRenewed = Date.now();
        deadline = sent + this.#ttl * 0.9;
      }
    };
    const timer = setInterval(() => void renew(), this.#ttl / 3);
    return {
      lost: lost.signal,
      valid: () => {
        if (stopped) return false;
        if (performance.now() < deadline) return true;
        lose('past its deadline without a renewal (the process was paused or cut off)');
        return false;
      },
      release: async () => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        await this.#entries.remove(key, revision);
      },
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
