/**
 * Read-your-writes: waits until a model's position reaches a fence. One poller per process reads
 * every model's position (`greatest(lsn, heartbeat_lsn)` in `_sluice.positions`, written by the
 * read-model daemon in the same transaction as the data, or after a confirmed position heartbeat)
 * while anyone waits, and wakes the waiters whose fence is reached.
 *
 * On an idle source nothing would move the positions past a fresh fence until the connector's next
 * timed heartbeat (seconds). So while anyone waits, the watcher asks for a heartbeat now
 * (`requestHeartbeat`, a message on `<P>.signal.heartbeat`, see docs/events.md): at once when a wait
 * starts, then every REQUEST_EVERY_MS in case a request was lost (a connector restarting). The
 * heartbeat's commit lies after the request, hence after the fenced write: the position moves past
 * the fence through the stream, never by guessing.
 */
import { parseLsn } from '../../schemas/versions.js';
import type { QueryDb } from './query-db.js';

/** Milliseconds between reads of the positions while a request waits. */
const POLL_MS = 20;
/** Milliseconds between heartbeat requests while a fence waits. */
const REQUEST_EVERY_MS = 500;

interface Waiter {
  readonly model: string;
  readonly fence: bigint;
  readonly resolve: (reached: boolean) => void;
}

export class PositionWatcher {
  readonly #db: QueryDb;
  readonly #waiters = new Set<Waiter>();
  #positions = new Map<string, bigint>();
  #polling = false;
  #closed = false;
  readonly #requestHeartbeat: (() => void) | undefined;
  #lastRequest = 0;

  /** `requestHeartbeat`: asks the connector for a heartbeat now (absent: wait for the timed ones). */
  constructor(db: QueryDb, requestHeartbeat?: () => void) {
    this.#db = db;
    this.#requestHeartbeat = requestHeartbeat;
  }

  #request(): void {
    if (!this.#requestHeartbeat) return;
    this.#lastRequest = Date.now();
    try {
      this.#requestHeartbeat();
    } catch {
      // a closed or reconnecting NATS connection: the timed heartbeats still come
    }
  }

  /** Every model's position now (0 for a model without one yet). */
  async read(): Promise<Map<string, bigint>> {
    const rows = await this.#db.query(
      `SELECT name, greatest(lsn, heartbeat_lsn)::text AS pos FROM "_sluice".positions`,
    );
    this.#positions = new Map(rows.map((r) => [r.name!, parseLsn(r.pos!)]));
    return this.#positions;
  }

  /** The last position read of `model` (0 when unknown). */
  last(model: string): bigint {
    return this.#positions.get(model) ?? 0n;
  }

  /** Resolves true once `model` reflects `fence`, false after `timeoutMs`. */
  async waitFor(model: string, fence: bigint, timeoutMs: number): Promise<boolean> {
    if (((await this.read()).get(model) ?? 0n) >= fence) return true;
    if (timeoutMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const w: Waiter = { model, fence, resolve: (ok) => done(ok) };
      const done = (ok: boolean) => {
        clearTimeout(timer);
        if (this.#waiters.delete(w)) resolve(ok);
      };
      this.#waiters.add(w);
      this.#request();
      void this.#poll();
    });
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      while (this.#waiters.size && !this.#closed) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const pos = await this.read().catch(() => null);
        if (!pos) continue;
        for (const w of [...this.#waiters]) if ((pos.get(w.model) ?? 0n) >= w.fence) w.resolve(true);
        if (this.#waiters.size && Date.now() - this.#lastRequest >= REQUEST_EVERY_MS) this.#request();
      }
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    this.#closed = true;
    for (const w of [...this.#waiters]) w.resolve(false);
  }
}
