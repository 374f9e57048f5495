/**
 * Writes a heartbeat into the source database on a timer: a transactional logical decoding message,
 * `pg_logical_emit_message(true, 'sluice.heartbeat', '{"slot":…}')`, in a transaction of its own.
 *
 * Why: a slot only moves when its walsender decodes something of its own database that Sluice then
 * confirms. While the captured tables are idle and the server writes elsewhere (another database,
 * tables outside the publication), the slot would pin all that WAL, and consumers would see no
 * position newer than the last change. The message needs no table and no privilege beyond what the
 * snapshot watermarks already use (the same function).
 *
 * Why transactional: the message then arrives as a transaction (BEGIN, MESSAGE, COMMIT) with a
 * commit LSN, so it passes through the sink's checkpoint like every other transaction — the slot
 * moves past it only once everything before it was acknowledged — and its position sorts with every
 * event's version (see connector/events/heartbeat-events.ts). A non-transactional message has no
 * commit and would need a second way to confirm the slot.
 *
 * Why its own connection: the session's SQL connection runs snapshot chunks; a heartbeat queued
 * behind a long query would be late, and one sent between a snapshot's BEGIN and COMMIT would join
 * that transaction.
 */
import type { Logger } from '../logger.js';
import { connectSql, type SqlClient } from './sql-connection.js';

/** Prefix of Sluice's heartbeat messages (`pg_logical_emit_message`'s second argument). */
export const HEARTBEAT_MESSAGE_PREFIX = 'sluice.heartbeat';

/**
 * The content of a heartbeat message: which slot's connector wrote it, and whether someone asked
 * for it (a read-your-writes fence waiting, see `requestNow`): a requested heartbeat is published
 * as a position heartbeat even while changes flow.
 */
export function heartbeatContent(slot: string, requested = false): string {
  return JSON.stringify(requested ? { slot, requested: true } : { slot });
}

/** Shortest gap between two heartbeats written on request (a burst of requests writes one). */
export const REQUESTED_HEARTBEAT_GAP_MS = 50;

export interface HeartbeatEmitterOptions {
  databaseUrl: string;
  /** Replication slot of this connector, written into the message (see heartbeatContent). */
  slot: string;
  /** Milliseconds between heartbeats. */
  intervalMs: number;
  log: Logger;
  /** Called after each heartbeat PostgreSQL committed (metrics). */
  onEmitted?: () => void;
}

export class HeartbeatEmitter {
  readonly #o: HeartbeatEmitterOptions;
  readonly #log: Logger;
  #client: SqlClient | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #failures = 0;
  #running: Promise<void> | null = null;
  /** A request arrived: the next heartbeat is written at once and says it was requested. */
  #requested = false;
  #lastBeat = 0;

  constructor(opts: HeartbeatEmitterOptions) {
    this.#o = opts;
    this.#log = opts.log.child({ module: 'heartbeat' });
  }

  /** Starts the timer; the first heartbeat goes out after one interval. */
  start(): void {
    if (this.#closed || this.#timer) return;
    this.#schedule();
  }

  /**
   * Writes a heartbeat as soon as possible (at most one per REQUESTED_HEARTBEAT_GAP_MS; requests
   * during a write are served by the next one). Someone is waiting for the source position to pass
   * a point — a read-your-writes fence on an idle database — and the heartbeat moves it there
   * without guessing: its commit lies after the request. Starts the timer if it was not running.
   */
  requestNow(): void {
    if (this.#closed) return;
    this.#requested = true;
    if (this.#running) return; // #schedule runs again when the write in progress ends
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#schedule(Math.max(0, this.#lastBeat + REQUESTED_HEARTBEAT_GAP_MS - Date.now()));
  }

  #schedule(delayMs = this.#o.intervalMs): void {
    if (this.#closed) return;
    if (this.#requested)
      delayMs = Math.min(delayMs, Math.max(0, this.#lastBeat + REQUESTED_HEARTBEAT_GAP_MS - Date.now()));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#beat().finally(() => {
        this.#running = null;
        this.#schedule();
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    const requested = this.#requested;
    this.#requested = false;
    this.#lastBeat = Date.now();
    try {
      this.#client ??= await connectSql(this.#o.databaseUrl, 'sluice-heartbeat');
      await this.#client.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [
        HEARTBEAT_MESSAGE_PREFIX,
        heartbeatContent(this.#o.slot, requested),
      ]);
      if (this.#failures > 0) this.#log.info({ after: this.#failures }, 'heartbeats written again');
      this.#failures = 0;
      this.#o.onEmitted?.();
    } catch (e) {
      // An outage of PostgreSQL also ends the replication session, which reports it; a heartbeat
      // that keeps failing while streaming goes on (a revoked privilege) is worth one warning.
      if (this.#failures++ === 0) {
        this.#log.warn(
          { err: (e as Error).message },
          `could not write a heartbeat into the source database: ${(e as Error).message}. The slot may pin WAL while the captured tables are idle.`,
        );
      }
      const c = this.#client;
      this.#client = null;
      await c?.end().catch(() => undefined);
    }
  }

  /** Stops the timer and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => undefined);
  }
}
