/**
 * The connector's leader lease: one replica of a source streams, the others stand by. The lease is
 * the key `connector.<slot>` in the KV bucket `<P>_LEASES` (the bucket the consumer runtime's leases
 * use), written only by compare-and-set on its revision.
 *
 * Acquiring: `create` (the key is absent, deleted by a graceful stop, or aged out by the bucket's
 * max_age), or, when the revision a standby reads has not changed for the ttl on the standby's own
 * clock, `update` with that revision. Either way the revision returned is the holder's **epoch**: KV
 * revisions are stream sequences, so every acquisition gets a larger one than all before it.
 *
 * Holding: renewed every ttl/5 by `update` with the last revision. A renewal refused (someone
 * else's revision) loses the lease at once. The holder also keeps a deadline: the moment it *sent*
 * its last successful renewal plus 0.9 × the effective ttl (the smaller of the ttl and the bucket's
 * max_age). No standby can take over before that renewal's write plus the ttl, and that write came
 * after the send, so the holder's deadline always falls before anyone else's lease can begin.
 * `check()` is synchronous and compares both the monotonic clock and the wall clock with the
 * deadline: a process that was paused (SIGSTOP, a frozen VM) finds the deadline past when it resumes
 * and stops before it publishes anything — see docs/operations.md "High availability" for the whole
 * fencing argument, including the messages already handed to the socket.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NatsClient } from '../nats-connection.js';
import { openLeaseBucket, readLeaseEntry } from '../sink/lease-bucket.js';

/** What the lease needs of a KV bucket; compare-and-set writes answer null when refused. */
export interface LeaseStore {
  /** Creates the key; null when it exists. Returns the new revision. */
  create(key: string, value: string): Promise<number | null>;
  /** Writes the key if its revision is still `revision`; null when it is not. */
  update(key: string, value: string, revision: number): Promise<number | null>;
  get(key: string): Promise<{ value: string; revision: number } | null>;
  /** Deletes the key if its revision is still `revision`; errors are ignored. */
  remove(key: string, revision: number): Promise<void>;
  /** The bucket's max_age in milliseconds (0: entries never age out). */
  readonly maxAgeMs: number;
}

/** The value stored under the lease's key. */
export interface LeaseValue {
  holder: string;
  since: string;
}

/** Clocks, replaceable in unit tests: a monotonic one and the wall clock, both in milliseconds. */
export interface LeaseClocks {
  monotonic(): number;
  wall(): number;
}

const SYSTEM_CLOCKS: LeaseClocks = { monotonic: () => performance.now(), wall: () => Date.now() };

/**
 * Renewals per ttl. Five: a holder loses the lease only when no renewal got through for 0.9 × ttl,
 * so one slow answer (a busy server, a long garbage collection) does not cost it.
 */
export const RENEWALS_PER_TTL = 5;

/** Fraction of the effective ttl a holder trusts its last renewal for. */
export const DEADLINE_FRACTION = 0.9;

/** Name of the lease bucket of a prefix (shared with the consumer runtime's leases). */
export function leaseBucketName(prefix: string): string {
  return `${prefix.toUpperCase().replace(/-/g, '_')}_LEASES`;
}

/** Key of a connector's lease: one per replication slot. */
export function connectorLeaseKey(slot: string): string {
  return `connector.${slot}`;
}

/** A holder name that says where the process runs: `host:pid:random`. */
export function holderName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** The lease bucket as a {@link LeaseStore}; created with max_age = `ttlMs` when missing. */
export async function openLeaseStore(
  nc: NatsClient,
  prefix: string,
  ttlMs: number,
  replicas: number,
): Promise<LeaseStore> {
  return openLeaseBucket(nc, leaseBucketName(prefix), ttlMs, replicas);
}

/**
 * The current leader of a slot, read without creating anything (`sluice status`); null when no
 * replica holds the lease or the bucket does not exist. `revision` is the lease's last write.
 */
export async function readLeader(
  nc: NatsClient,
  prefix: string,
  slot: string,
): Promise<(LeaseValue & { revision: number }) | null> {
  try {
    const e = await readLeaseEntry(nc, leaseBucketName(prefix), connectorLeaseKey(slot));
    if (!e) return null;
    return { ...parseValue(e.value), revision: e.revision };
  } catch {
    return null;
  }
}

/** The error of a session that ended because its lease is gone (or was never held). */
export function leaseLostError(key: string, why: string): SluiceError {
  return new SluiceError(ErrorCodes.leaseLost, `lost the leader lease ${key}: ${why}; standing by.`);
}

export interface LeaderLeaseOptions {
  store: LeaseStore;
  key: string;
  /** Milliseconds a lease lives without renewal. */
  ttlMs: number;
  log: Logger;
  /** This process's name in the lease. Default {@link holderName}. */
  holder?: string;
  clocks?: LeaseClocks;
}

/**
 * The lease of one connector. `acquire()` waits (standing by) until this process holds it;
 * `check()` throws once it may no longer act as the leader; `lost` aborts at that moment.
 */
export class LeaderLease {
  readonly holder: string;
  readonly key: string;
  readonly #store: LeaseStore;
  readonly #ttl: number;
  readonly #log: Logger;
  readonly #clocks: LeaseClocks;
  #revision = 0;
  #epoch = 0;
  #deadlineMono = -Infinity;
  #deadlineWall = -Infinity;
  #lost: AbortController = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #expiry: NodeJS.Timeout | null = null;
  #renewing = false;

  constructor(o: LeaderLeaseOptions) {
    this.#store = o.store;
    this.key = o.key;
    this.#log = o.log.child({ module: 'leader-lease' });
    this.#clocks = o.clocks ?? SYSTEM_CLOCKS;
    this.holder = o.holder ?? holderName();
    // Entries age out after the bucket's max_age whatever we configure: trust the smaller.
    this.#ttl = o.store.maxAgeMs > 0 ? Math.min(o.ttlMs, o.store.maxAgeMs) : o.ttlMs;
    this.#lost.abort();
  }

  /** Milliseconds a lease lives without renewal (the configured ttl, or the bucket's max_age if smaller). */
  get ttlMs(): number {
    return this.#ttl;
  }

  /** The fencing epoch of the current term (the revision that acquired it); 0 before the first. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Aborted when the current term ends (renewal refused, deadline passed, released). */
  get lost(): AbortSignal {
    return this.#lost.signal;
  }

  /** True while this process holds the lease and its deadline has not passed. */
  get held(): boolean {
    if (this.#lost.signal.aborted) return false;
    if (this.#clocks.monotonic() >= this.#deadlineMono || this.#clocks.wall() >= this.#deadlineWall) {
      this.#lose('its renewal deadline passed (the process was paused, or NATS did not answer)');
      return false;
    }
    return true;
  }

  /** Throws the `LEASE_LOST` error unless this process holds the lease. Synchronous and cheap. */
  check(): void {
    if (!this.held) throw leaseLostError(this.key, 'this process no longer holds it');
  }

  /** Who holds the lease now (null: nobody). */
  async currentHolder(): Promise<string | null> {
    const e = await this.#store.get(this.key);
    return e ? parseValue(e.value).holder : null;
  }

  /**
   * Resolves with the epoch once this process holds the lease, or null when `signal` aborts
   * first. `onStandby` is called when it first finds another holder (and when the holder changes).
   */
  async acquire(signal: AbortSignal, onStandby?: (holder: string) => void): Promise<number | null> {
    if (this.held) return this.#epoch;
    const value = JSON.stringify({
      holder: this.holder,
      since: new Date().toISOString(),
    } satisfies LeaseValue);
    let observed: { revision: number; at: number } | null = null;
    let reportedHolder: string | null = null;
    const poll = Math.max(100, Math.min(500, this.#ttl / 10));
    while (!signal.aborted) {
      try {
        const sentAt = this.#now();
        let rev = await this.#store.create(this.key, value);
        if (rev === null) {
          const cur = await this.#store.get(this.key);
          if (cur === null) continue; // gone between the two calls: try to create it again
          const mono = this.#clocks.monotonic();
          if (parseValue(cur.value).holder === this.holder) {
            // Our own write (our term ended on our deadline, e.g. a long pause): holder names are
            // unique per process and a new holder overwrites the name, so nobody took over since
            // and a compare-and-set on it starts a new term at once.
            rev = await this.#store.update(this.key, value, cur.revision);
          } else if (!observed || observed.revision !== cur.revision)
            observed = { revision: cur.revision, at: mono };
          else if (mono - observed.at >= this.#ttl) {
            // Not renewed for a whole ttl on this clock: the holder is gone (the bucket keeps entries longer).
            rev = await this.#store.update(this.key, value, cur.revision);
          }
          if (rev === null) {
            const holder = parseValue(cur.value).holder;
            if (holder !== reportedHolder) {
              reportedHolder = holder;
              onStandby?.(holder);
            }
          }
        }
        if (rev !== null) return this.#begin(rev, value, sentAt);
      } catch (err) {
        this.#log.warn({ err: String(err) }, 'cannot reach the lease bucket; retrying');
      }
      await sleep(poll, signal);
    }
    return null;
  }

  /** Stops renewing and deletes the lease, so a standby takes over at once. Idempotent. */
  async release(): Promise<void> {
    const wasHeld = this.held;
    this.#stopTimers();
    if (!this.#lost.signal.aborted) this.#lost.abort();
    if (wasHeld) await this.#store.remove(this.key, this.#revision);
  }

  #now(): { mono: number; wall: number } {
    return { mono: this.#clocks.monotonic(), wall: this.#clocks.wall() };
  }

  #begin(revision: number, value: string, sentAt: { mono: number; wall: number }): number {
    this.#revision = revision;
    this.#epoch = revision;
    this.#lost = new AbortController();
    this.#extend(sentAt);
    this.#timer = setInterval(() => void this.#renew(value), this.#ttl / RENEWALS_PER_TTL);
    this.#timer.unref();
    this.#log.info({ key: this.key, holder: this.holder, epoch: revision }, 'acquired the leader lease');
    return revision;
  }

  #extend(sentAt: { mono: number; wall: number }): void {
    const span = this.#ttl * DEADLINE_FRACTION;
    this.#deadlineMono = sentAt.mono + span;
    this.#deadlineWall = sentAt.wall + span;
    // Declare the loss on time even when nothing calls check() and renewals hang.
    if (this.#expiry) clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => void this.held, span + 1);
    this.#expiry.unref();
  }

  async #renew(value: string): Promise<void> {
    if (this.#renewing || !this.held) return;
    this.#renewing = true;
    const lost = this.#lost.signal;
    try {
      const sentAt = this.#now();
      const rev = await this.#store.update(this.key, value, this.#revision);
      if (lost.aborted) return;
      if (rev === null) return this.#lose('another process took it over');
      this.#revision = rev;
      this.#extend(sentAt);
    } catch (err) {
      // Not refused, just unanswered: keep trying until the deadline says otherwise.
      this.#log.warn({ err: String(err) }, 'cannot renew the leader lease; retrying');
    } finally {
      this.#renewing = false;
    }
  }

  #lose(why: string): void {
    if (this.#lost.signal.aborted) return;
    this.#stopTimers();
    this.#log.error({ key: this.key, epoch: this.#epoch, why }, `lost the leader lease: ${why}`);
    this.#lost.abort(leaseLostError(this.key, why));
  }

  #stopTimers(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#expiry) clearTimeout(this.#expiry);
    this.#timer = null;
    this.#expiry = null;
  }
}

function parseValue(text: string): LeaseValue {
  try {
    return JSON.parse(text) as LeaseValue;
  } catch {
    return { holder: text, since: '' };
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
