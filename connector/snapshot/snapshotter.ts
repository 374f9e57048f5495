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
 */
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../source/sql-connection.js';
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
import { describeRelation, keyTokenOf, MemorySchemaRegistry } from '../events/tables.js';
import { ColumnPolicy } from '../events/column-policy.js';
import type { TableRow } from '../source/setup.js';
import { connectSql, pgCatalog, quoteIdent } from '../source/setup.js';
import { readRawRows } from '../source/row-reader.js';
import type { RelationMessage } from '../source/pgoutput.js';
import { NO_KEY_TOKEN } from '../../schemas/keys.js';
import { aborted, sleep } from '../lifecycle.js';

/** Prefix of Sluice's logical decoding messages. */
export const WATERMARK_PREFIX = 'sluice-watermark';

/** Milliseconds a chunk may wait for its watermarks before each warning. */
const CHUNK_WAIT_WARN_MS = 60_000;

interface Chunk {
  id: string;
  table: TableInfo;
  rows: string[][] | null;
  /** Raw text of each row's identity, for the next chunk's lower bound. */
  lastKey: string[] | null;
  changed: Set<string>;
  truncated: boolean;
  open: boolean;
  /** Resolves when the high watermark was handled and its facts acknowledged. */
  /** Resolves when the high watermark was handled: the chunk's facts are with the sink. */
  done: Promise<number>;
  resolve: (published: number) => void;
  /** Resolves when the chunk's last fact is acknowledged (progress may then be saved). */
  acked: Promise<void>;
  ack: () => void;
  reject: (e: Error) => void;
}

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
    let request: TableRow[] = newTables;
    if (!initialized) {
      request = this.#d.cfg.snapshot === 'initial' ? allTables : [];
    }
    const names = request.map((t) => `${t.schema}.${t.table}`);
    if (names.length) {
      await progress.request(names);
      this.#log.info({ tables: names }, 'snapshot requested');
    }
    if (!initialized) await progress.markInitialized();
  }

  /** Requests snapshots of tables that joined the publication while running. */
  async requestTables(tables: TableRow[]): Promise<void> {
    await this.#d.progress.request(tables.map((t) => `${t.schema}.${t.table}`));
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
    const c = this.#chunk;
    if (!c || !c.open || c.table.relationId !== t.relationId) return;
    if (keyToken === NO_KEY_TOKEN) c.truncated = true;
    else c.changed.add(keyToken);
  }

  /** From the processor: a logical message at its commit position. */
  onLogicalMessage(m: LogicalMessage): void | Promise<void> {
    if (m.prefix !== WATERMARK_PREFIX) return;
    let w: { chunk?: string; w?: string };
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
      c.open = true;
      return;
    }
    if (w.w !== 'high' || !c.open) return;
    c.open = false;
    if (!c.rows) return c.reject(new Error('high watermark before the chunk was read'));
    const p = this.#processor;
    if (!p) return c.reject(new Error('session ended'));
    const keep = c.truncated ? [] : c.rows.filter((row) => !c.changed.has(keyTokenOf(c.table, row)));
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

  async #tableInfo(sql: SqlClient, name: string): Promise<TableInfo | null> {
    const r = await sql.query(
      `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS tbl FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = $1`,
      [name],
    );
    const row = r.rows[0];
    if (!row) return null;
    const oid = Number(row.oid);
    const known = this.#processor
      ? [...this.#processor.tables()].find((t) => t.relationId === oid)
      : undefined;
    if (known) return known;
    const cols = await sql.query(
      `SELECT attname, atttypid::int8 AS typ, atttypmod AS mod FROM pg_attribute
        WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
      [oid],
    );
    const catalog = pgCatalog(this.#catalogSql ?? sql);
    const { identity } = await catalog.describe(oid);
    const rel: RelationMessage = {
      tag: 'relation',
      relationId: oid,
      schema: row.schema,
      table: row.tbl,
      replicaIdentity: 'default',
      columns: cols.rows.map((c) => ({
        isKey: identity.includes(c.attname),
        name: c.attname,
        typeOid: Number(c.typ),
        typeMod: Number(c.mod),
      })),
    };
    // The schemaVersion comes from the processor's registry once the table streams; the snapshot
    // needs the same fingerprint, which describeRelation computes identically.
    return describeRelation(
      rel,
      this.#d.cfg.prefix,
      catalog,
      this.#registry(),
      null,
      undefined,
      undefined,
      this.#columns,
    );
  }

  #registry() {
    return this.#processor?.registry ?? new MemorySchemaRegistry();
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
    const info = await this.#tableInfo(sql, state.table);
    const store = this.#d.progress;
    const progress = {
      save: (state: SnapshotState) => {
        this.#d.fence?.();
        return store.save(state);
      },
    };
    if (!info || info.keyIdx.length === 0) {
      this.#log.warn(
        { table: state.table },
        `cannot snapshot ${state.table}: it no longer exists or has no identity`,
      );
      await progress.save({ ...state, status: 'done', finishedAt: new Date().toISOString() });
      return;
    }
    const cfg = this.#d.cfg;
    const t = info;
    // The columns themselves, read as their output functions' text (readRawRows): what pgoutput
    // sends, so a snapshot fact has the same JSON as a streamed one. Keyset pagination orders by
    // the key columns' own types.
    const colList = t.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
    const keyCols = t.keyIdx.map((i) => `t.${quoteIdent(t.columns[i]!.name)}`);
    const keyTypes = await sql.query(
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1 AND attname = ANY($2::text[])
        ORDER BY attnum`,
      [
        t.relationId,
        `{${t.keyIdx.map((i) => '"' + t.columns[i]!.name.replace(/(["\\])/g, '\\$1') + '"').join(',')}}`,
      ],
    );
    const casts = keyTypes.rows.map((r) => r.t as string);
    const from = `${quoteIdent(t.schema)}.${quoteIdent(t.table)} t`;
    // The planner's estimate; a table never analyzed (reltuples -1) is counted once instead.
    const est = await sql.query(`SELECT reltuples::int8 AS n FROM pg_class WHERE oid = $1`, [t.relationId]);
    let total = Number(est.rows[0]?.n ?? -1);
    if (total < 0) total = Number((await sql.query(`SELECT count(*)::int8 AS n FROM ${from}`)).rows[0].n);
    const started = state.startedAt ?? new Date().toISOString();
    let s: SnapshotState = {
      ...state,
      status: 'running',
      startedAt: started,
      rowsTotal: total,
    };
    await progress.save(s);
    this.#log.info({ table: t.name, resumeAfter: s.lastKey, rowsDone: s.rowsDone }, 'snapshot running');
    this.#d.metrics.snapshotActive = 1;
    const runStart = Date.now();
    const doneAtStart = s.rowsDone;
    const stopped = aborted(signal);
    let saved: Promise<void> = Promise.resolve();
    while (!signal.aborted && this.#processor) {
      const chunkStart = Date.now();
      const where = s.lastKey
        ? `WHERE (${keyCols.join(', ')}) > (${casts.map((c, i) => `$${i + 1}::${c}`).join(', ')})`
        : '';
      const id = randomUUID();
      let resolve!: (n: number) => void;
      let reject!: (e: Error) => void;
      const done = new Promise<number>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      let ack!: () => void;
      const acked = new Promise<void>((res) => (ack = res));
      const chunk: Chunk = {
        id,
        table: t,
        rows: null,
        lastKey: null,
        changed: new Set(),
        truncated: false,
        open: false,
        done,
        resolve,
        acked,
        ack,
        reject,
      };
      this.#chunk = chunk;
      this.#d.fence?.();
      await emitWatermark(sql, id, 'low');
      const raw = await readRawRows(
        sql,
        `SELECT ${colList} FROM ${from} ${where} ORDER BY ${keyCols.join(', ')} LIMIT ${cfg.snapshotChunkSize}`,
        s.lastKey ?? [],
      );
      chunk.lastKey = raw.length ? t.keyIdx.map((i) => raw[raw.length - 1]![i] as string) : null;
      chunk.rows = raw.map((row) => row.map((v, i) => (v === null ? 'null' : t.columns[i]!.mapper(v))));
      this.#d.fence?.();
      await emitWatermark(sql, id, 'high');
      await this.#awaitChunk(t.name, done, stopped);
      if (signal.aborted) break;
      this.#chunk = null;
      s = {
        ...s,
        lastKey: chunk.lastKey ?? s.lastKey,
        rowsDone: s.rowsDone + raw.length,
        rate: Math.round(
          ((s.rowsDone + raw.length - doneAtStart) * 1000) / Math.max(1, Date.now() - runStart),
        ),
      };
      if (raw.length < cfg.snapshotChunkSize) {
        s = {
          ...s,
          status: 'done',
          finishedAt: new Date().toISOString(),
          rowsTotal: Math.max(s.rowsTotal, s.rowsDone),
        };
      }
      // The next chunk starts while this one's facts are still being acknowledged; progress is
      // saved, in order, once they are (a crash resumes from the last chunk fully stored).
      const reached = s;
      saved = saved.then(async () => {
        await Promise.race([chunk.acked, stopped]);
        if (signal.aborted) return;
        await progress.save(reached);
        this.#d.metrics.snapshotProgress(t.name, reached.rowsDone, reached.rowsTotal, reached.rate);
      });
      if (s.status === 'done') await saved;
      if (s.status === 'done') {
        this.#log.info({ table: t.name, rows: s.rowsDone, rate: s.rate }, 'snapshot done');
        this.#d.metrics.snapshotActive = 0;
        return;
      }
      if (cfg.snapshotRateLimit > 0) {
        const minMs = (raw.length * 1000) / cfg.snapshotRateLimit;
        const spent = Date.now() - chunkStart;
        if (spent < minMs) await sleep(minMs - spent, signal);
      }
    }
  }
}

async function emitWatermark(sql: SqlClient, chunk: string, w: 'low' | 'high'): Promise<void> {
  await sql.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [
    WATERMARK_PREFIX,
    JSON.stringify({ chunk, w }),
  ]);
}
