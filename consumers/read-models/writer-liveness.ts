/**
 * Takeover from a writer that stopped without its session ending — paused (SIGSTOP, a frozen VM) or
 * hung. The session advisory lock alone would keep such a writer in place forever, and the standby
 * waiting. So the writer beats: every WRITER_BEAT_MS it stamps `"_sluice".writer` with the server's
 * clock, on a connection of its own (a long apply or rebuild on the writer session does not delay
 * it). A standby that finds the lock taken and the stamp older than WRITER_STALE_MS ends the lock
 * holder's session (`pg_terminate_backend`): PostgreSQL rolls back whatever it had open and releases
 * the lock, and the standby takes it at its next attempt.
 *
 * The lock stays the fence: every write goes through the writer session, so a writer resumed after
 * that finds its session gone, writes nothing more, and stops (its supervisor restarts it, and it
 * stands by). Both clocks are the server's, so no skew between machines matters.
 */
import { ReadDb } from './read-db.js';
import { BOOKKEEPING_SCHEMA } from './maintainer.js';

/** Milliseconds between a writer's beats. */
export const WRITER_BEAT_MS = 2_000;
/** Milliseconds without a beat after which a standby ends the writer's session. */
export const WRITER_STALE_MS = 8_000;

const TABLE = `"${BOOKKEEPING_SCHEMA}".writer`;

/** Creates the beat table (idempotent; the writer calls it holding the lock, before its first beat). */
async function prepare(db: ReadDb): Promise<void> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS "${BOOKKEEPING_SCHEMA}"`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    writer_pid int NOT NULL,
    beat timestamptz NOT NULL
  )`);
}

/** The writer's side: beats until stopped. Started right after the lock is taken. */
export class WriterBeat {
  readonly #db: ReadDb;
  readonly #timer: NodeJS.Timeout;
  #busy = false;

  private constructor(db: ReadDb, writerPid: number, everyMs: number) {
    this.#db = db;
    this.#timer = setInterval(() => void this.#beat(writerPid), everyMs);
    this.#timer.unref();
  }

  /** `writer` holds the lock; the beat runs on a second connection to `url`. */
  static async start(url: string, writer: ReadDb, everyMs = WRITER_BEAT_MS): Promise<WriterBeat> {
    const pid = (await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
    await prepare(writer);
    const db = await ReadDb.connect(url, 'sluice-read-models-beat');
    const b = new WriterBeat(db, pid, everyMs);
    // The first beat before anything else: a stamp left by an earlier writer must not look stale.
    await b.#beat(pid);
    return b;
  }

  async #beat(writerPid: number): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.#db.query(
        `INSERT INTO ${TABLE} (writer_pid, beat) VALUES ($1, clock_timestamp())
         ON CONFLICT (one) DO UPDATE SET writer_pid = EXCLUDED.writer_pid, beat = EXCLUDED.beat`,
        [writerPid],
      );
    } catch {
      // The next beat retries; a writer that cannot beat for WRITER_STALE_MS is taken over.
    } finally {
      this.#busy = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#db.close();
  }
}

/**
 * The standby's side: when the writer's last beat is older than `staleMs`, ends the session that
 * holds the writer lock `lockKey`. Returns the ended backend's pid and the beat's age, or null.
 */
export async function endStaleWriter(
  db: ReadDb,
  lockKey: number,
  staleMs = WRITER_STALE_MS,
): Promise<{ pid: number; ageMs: number } | null> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [TABLE]);
  if (!exists[0]?.t) return null;
  // The holder of pg_advisory_lock(bigint key): classid = high 32 bits, objid = low 32, objsubid 1.
  const rows = await db.query<{ pid: number; age: number }>(
    `SELECT l.pid, (extract(epoch FROM clock_timestamp() - w.beat) * 1000)::float8 AS age
     FROM pg_locks l CROSS JOIN ${TABLE} w
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1`,
    [Math.floor(lockKey / 2 ** 32), lockKey % 2 ** 32],
  );
  const holder = rows[0];
  if (!holder || holder.age <= staleMs) return null;
  await db.query('SELECT pg_terminate_backend($1)', [holder.pid]);
  return { pid: holder.pid, ageMs: Math.round(holder.age) };
}
