/**
 * Incremental, chunked snapshots interleaved with streaming: the watermark algorithm of Netflix's
 * DBLog (Andreakis & Papapanagiotou, 2020), with PostgreSQL's pg_logical_emit_message as the
 * watermarks.
 *
 * For each chunk of a table (keyset pagination in identity order, one short transaction each):
 *   1. write a low watermark into the WAL;
 *   2. SELECT the next chunk of rows after the last key done;
 *   3. write a high watermark.
 * The replication stream delivers the watermarks in commit order with the changes. Between the
 * low and the high watermark the processor reports every key that changed; at the high watermark
 * those keys are dropped from the chunk (the stream carries their newer state) and the rest are
 * published as facts with op "snapshot" at the high watermark's position. So a snapshot fact is
 * never older than a streamed change of the same row, and no lock or long transaction is needed.
 *
 * Progress (the last key done, rows done) lives in a NATS KV bucket `<PREFIX>_SNAPSHOTS` and is
 * written only after the chunk's facts are acknowledged: a crash resumes from the last completed
 * chunk. Requests come from the same bucket: `sluice snapshot <table>` writes a pending entry.
 *
 * This module is the loop over tables and chunks; beside it: `watermarks.ts` (the watermark
 * messages), `chunk.ts` (a chunk's window of changed keys), `table-reader.ts` (the table described
 * and read in chunks), `progress.ts` (requests and progress in the bucket).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type {
  LogicalMessage,
  SnapshotMetrics,
  SnapshotProgress,
  SnapshotState,
  SnapshotTarget,
  TableInfo,
} from '../ports.js';
import { ColumnPolicy } from '../events/column-policy.js';
import { connectSql, type SqlClient } from '../source/sql-connection.js';
import type { TableRow } from '../source/table-list.js';
import { aborted, sleep } from '../lifecycle.js';
import { Chunk } from './chunk.js';
import {
  abandonedState,
  afterChunk,
  runningState,
  snapshotName,
  tablesToRequest,
  TableProgress,
} from './progress.js';
import { describeSnapshotTable, estimateRows, keyTypes, readChunk } from './table-reader.js';
import { emitWatermark, WATERMARK_PREFIX, type Watermark } from './watermarks.js';

/** Milliseconds a chunk may wait for its watermarks before each warning. */
const CHUNK_WAIT_WARN_MS = 60_000;

export interface SnapshotterDeps {
  cfg: Config;
  log: Logger;
  metrics: SnapshotMetrics;
  /** Requests and progress (sink/snapshot-store.ts over the `<PREFIX>_SNAPSHOTS` bucket). */
  progress: SnapshotProgress;
  /**
   * Called before every write of snapshot state or a watermark; throws to refuse it (the leader
   * lease with `ha: on`: a replica that lost it records nothing). Optional.
   */
  fence?: () => void;
}

export class Snapshotter {
  readonly #d: SnapshotterDeps;
  readonly #log: Logger;
  #processor: SnapshotTarget | null = null;
  #catalogSql: SqlClient | null = null;
  #chunk: Chunk | null = null;
  /** Column exclusion and masking: excluded columns are never read, masked ones are masked. */
  readonly #columns: ColumnPolicy;

  constructor(deps: SnapshotterDeps) {
    this.#d = deps;
    this.#columns = new ColumnPolicy(deps.cfg.columns, deps.cfg.maskSalt);
    this.#log = deps.log.child({ module: 'snapshot' });
  }

  /**
   * Records what must be snapshotted: on the very first run every
   * captured table (unless snapshot is `never`), later the tables newly added to the publication.
   * Recorded before streaming starts, so a crash cannot forget a requested snapshot.
   */
  async init(newTables: TableRow[], allTables: TableRow[]): Promise<void> {
    const progress = this.#d.progress;
    const initialized = await progress.initialized();
    this.#d.fence?.();
    const names = tablesToRequest(initialized, this.#d.cfg.snapshot, newTables, allTables);
    if (names.length) {
      await progress.request(names);
      this.#log.info({ tables: names }, 'snapshot requested');
    }
    if (!initialized) await progress.markInitialized();
  }

  /** Requests snapshots of tables that joined the publication while running. */
  async requestTables(tables: TableRow[]): Promise<void> {
    await this.#d.progress.request(tables.map(snapshotName));
  }

  /** Binds to the session's processor. */
  attach(processor: SnapshotTarget, catalogSql: SqlClient): void {
    this.#processor = processor;
    this.#catalogSql = catalogSql;
  }

  detach(): void {
    this.#processor = null;
    const c = this.#chunk;
    this.#chunk = null;
    c?.reject(new Error('session ended'));
  }

  /** From the processor: a key of a table changed (a truncate reports NO_KEY_TOKEN). */
  onChange(t: TableInfo, keyToken: string): void {
    this.#chunk?.noteChange(t, keyToken);
  }

  /** From the processor: a logical message at its commit position. */
  onLogicalMessage(m: LogicalMessage): void | Promise<void> {
    if (m.prefix !== WATERMARK_PREFIX) return;
    let w: Watermark;
    try {
      w = JSON.parse(m.content.toString('utf8'));
    } catch {
      this.#log.warn(
        { content: m.content.toString('utf8').slice(0, 200) },
        'ignored an unreadable snapshot watermark',
      );
      return;
    }
    const c = this.#chunk;
    // Watermarks of chunks from before a restart are ignored: that chunk is redone.
    if (!c || w.chunk !== c.id) return;
    if (w.w === 'low') {
      c.openWindow();
      return;
    }
    if (w.w !== 'high' || !c.closeWindow()) return;
    if (!c.rows) return c.reject(new Error('high watermark before the chunk was read'));
    const p = this.#processor;
    if (!p) return c.reject(new Error('session ended'));
    const keep = c.unchangedRows(c.rows);
    this.#d.metrics.snapshotRows += keep.length;
    return p
      .emitSnapshotFacts(c.table, keep, () => c.ack())
      .then((published) => {
        if (published === 0) c.ack();
        c.resolve(keep.length);
      });
  }

  /** The snapshot loop: works through pending tables until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const sql = await connectSql(this.#d.cfg.databaseUrl, 'sluice-snapshot');
    try {
      while (!signal.aborted && this.#processor) {
        const pending = (await this.#d.progress.list()).filter((s) => s.status !== 'done');
        if (pending.length === 0) {
          this.#d.metrics.snapshotActive = 0;
          await sleep(1000, signal);
          continue;
        }
        for (const state of pending) {
          if (signal.aborted || !this.#processor) break;
          await this.#snapshotTable(sql, state, signal);
        }
      }
    } finally {
      await sql.end().catch(() => undefined);
    }
  }

  /**
   * Waits until the chunk's high watermark was handled. The replication stream may be far behind
   * (a backlog after a restart): every minute without it, says so with how far behind the stream is,
   * so a snapshot that makes no progress always says why.
   */
  async #awaitChunk(table: string, done: Promise<number>, stopped: Promise<void>): Promise<void> {
    const started = Date.now();
    const timer = setInterval(() => {
      this.#log.warn(
        { table, waitingSec: Math.round((Date.now() - started) / 1000) },
        `snapshot of ${table} waits for its chunk's watermarks to come through the replication stream (it is behind: see "sluice status" for the lag)`,
      );
    }, CHUNK_WAIT_WARN_MS);
    timer.unref();
    try {
      await Promise.race([done, stopped]);
    } finally {
      clearInterval(timer);
    }
  }

  async #snapshotTable(sql: SqlClient, state: SnapshotState, signal: AbortSignal): Promise<void> {
    const info = await describeSnapshotTable(sql, state.table, {
      processor: this.#processor,
      catalogSql: this.#catalogSql,
      prefix: this.#d.cfg.prefix,
      columns: this.#columns,
    });
    const progress = new TableProgress(this.#d.progress, this.#d.fence);
    if (!info || info.keyIdx.length === 0) {
      this.#log.warn(
        { table: state.table },
        `cannot snapshot ${state.table}: it no longer exists or has no identity`,
      );
      await progress.save(abandonedState(state, new Date()));
      return;
    }
    const cfg = this.#d.cfg;
    const t = info;
    const types = await keyTypes(sql, t);
    let s = runningState(state, await estimateRows(sql, t), new Date());
    await progress.save(s);
    this.#log.info({ table: t.name, resumeAfter: s.lastKey, rowsDone: s.rowsDone }, 'snapshot running');
    this.#d.metrics.snapshotActive = 1;
    const run = { rowsDoneAtStart: s.rowsDone, startMs: Date.now() };
    const stopped = aborted(signal);
    while (!signal.aborted && this.#processor) {
      const chunkStart = Date.now();
      const chunk = new Chunk(randomUUID(), t);
      this.#chunk = chunk;
      this.#d.fence?.();
      await emitWatermark(sql, chunk.id, 'low');
      const read = await readChunk(sql, t, types, s.lastKey, cfg.snapshotChunkSize);
      chunk.lastKey = read.lastKey;
      chunk.rows = read.rows;
      this.#d.fence?.();
      await emitWatermark(sql, chunk.id, 'high');
      await this.#awaitChunk(t.name, chunk.done, stopped);
      if (signal.aborted) break;
      this.#chunk = null;
      const rows = read.rows.length;
      s = afterChunk(s, { rows, lastKey: chunk.lastKey }, run, cfg.snapshotChunkSize, Date.now());
      // The next chunk starts while this one's facts are still being acknowledged; progress is
      // saved, in order, once they are (a crash resumes from the last chunk fully stored).
      const saved = progress.saveWhenAcked(s, chunk.acked, signal, stopped, (reached) =>
        this.#d.metrics.snapshotProgress(t.name, reached.rowsDone, reached.rowsTotal, reached.rate),
      );
      if (s.status === 'done') await saved;
      if (s.status === 'done') {
        this.#log.info({ table: t.name, rows: s.rowsDone, rate: s.rate }, 'snapshot done');
        this.#d.metrics.snapshotActive = 0;
        return;
      }
      if (cfg.snapshotRateLimit > 0) {
        const minMs = (rows * 1000) / cfg.snapshotRateLimit;
        const spent = Date.now() - chunkStart;
        if (spent < minMs) await sleep(minMs - spent, signal);
      }
    }
  }
}
