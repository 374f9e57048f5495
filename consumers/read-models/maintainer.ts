/**
 * Incremental maintenance in the read database. One batch of whole source transactions is one
 * read-database transaction:
 *   1. K_before: for every model and every occurrence of a touched table, the restricted query over
 *      the changed rows as they are in the replica before the batch;
 *   2. the facts applied to the replica (upsert/delete only when the fact's version is newer);
 *   3. K_after: the same restricted queries after;
 *   4. per model, the rows of K = K_before ∪ K_after deleted and recomputed with the model's SQL;
 *   5. the new position stored for the replica and every model.
 * Readers therefore never see part of a source transaction, and a crash or redelivery changes
 * nothing (the position moves with the data).
 */
import { createHash } from 'node:crypto';
import type { ModelPlan } from './sql-analysis.js';
import type { ReadModelDefinition } from './config.js';
import type { ReadDb, Sql } from './read-db.js';
import {
  changedRowsSql,
  createTableSql,
  deleteSql,
  jsonValueSql,
  quoteIdent,
  truncateSql,
  upsertSql,
  type ReplicaTable,
} from './replica-table.js';
import type { SourceTransaction, FactRecord } from './transaction-assembler.js';
import { formatLsn, parseLsn } from '../../schemas/versions.js';

/** Schema of the bookkeeping tables in the read database. */
export const BOOKKEEPING_SCHEMA = '_sluice';
/** Bookkeeping row of the replica (models have their own name). */
export const REPLICA_ROW = '@replica';

/** A model as the maintainer runs it. */
export interface ModelRuntime {
  readonly def: ReadModelDefinition;
  readonly plan: ModelPlan;
  /** Hash of the SQL and key: a change triggers a rebuild. */
  readonly hash: string;
}

/** Where the read database stands. */
export interface Position {
  /** Last applied sequence of `<P>_FACTS`. */
  readonly streamSeq: number;
  /** Commit LSN of the last applied source transaction (0 before any). */
  readonly lsn: bigint;
  readonly commitTime: string | null;
}

export function modelHash(def: ReadModelDefinition, plan: ModelPlan): string {
  return createHash('sha256')
    .update(JSON.stringify([plan.sql, def.key]))
    .digest('hex')
    .slice(0, 16);
}

interface KeyColumn {
  name: string;
  type: string;
}

/** Changes of one replica table within a batch: the last fact per key, and a truncate if any. */
interface TableChanges {
  readonly table: ReplicaTable;
  readonly last: Map<string, FactRecord>;
  truncateVersion: string | null;
}

export class Maintainer {
  readonly #db: ReadDb;
  readonly #schema: string;
  readonly #replicas: Map<string, ReplicaTable>;
  readonly #models: ModelRuntime[];
  readonly #keyColumns = new Map<string, KeyColumn[]>();

  constructor(db: ReadDb, modelsSchema: string, replicas: Map<string, ReplicaTable>, models: ModelRuntime[]) {
    this.#db = db;
    this.#schema = modelsSchema;
    this.#replicas = replicas;
    this.#models = models;
  }

  /** Creates the schemas, bookkeeping and replica tables (idempotent). */
  static async prepare(db: ReadDb, modelsSchema: string): Promise<void> {
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(BOOKKEEPING_SCHEMA)}`);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(modelsSchema)}`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions (
      name text PRIMARY KEY,
      stream_seq bigint NOT NULL,
      lsn pg_lsn NOT NULL,
      commit_time timestamptz,
      sql_hash text,
      applied_at timestamptz NOT NULL DEFAULT now(),
      rebuild_requested_at timestamptz,
      rebuilt_at timestamptz
    )`);
    // The newest position heartbeat confirmed: every fact published before it is applied.
    await db.query(
      `ALTER TABLE ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions ADD COLUMN IF NOT EXISTS heartbeat_lsn pg_lsn`,
    );
    await db.query(`CREATE TABLE IF NOT EXISTS ${quoteIdent(BOOKKEEPING_SCHEMA)}.replica_tables (
      table_name text PRIMARY KEY,
      schema_version int NOT NULL
    )`);
  }

  /** The replica's position (zero when nothing was applied yet). */
  async replicaPosition(sql: Sql = this.#db.query): Promise<Position> {
    return readPosition(sql, REPLICA_ROW);
  }

  /**
   * Records a position heartbeat the read database has caught up with: the caller checked that
   * every fact published before the heartbeat is applied. A model's position is then
   * `greatest(lsn, heartbeat_lsn)` (see docs/query-api.md).
   */
  async confirmHeartbeat(lsn: bigint): Promise<void> {
    await this.#db.query(
      `UPDATE ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions SET heartbeat_lsn = $1::pg_lsn
       WHERE heartbeat_lsn IS NULL OR heartbeat_lsn < $1::pg_lsn`,
      [formatLsn(lsn)],
    );
  }

  /** Creates missing replica tables; returns the names that are new (they need loading). */
  async createReplicas(): Promise<string[]> {
    const known = new Set(
      (
        await this.#db.query<{ table_name: string }>(
          `SELECT table_name FROM ${quoteIdent(BOOKKEEPING_SCHEMA)}.replica_tables`,
        )
      ).map((r) => r.table_name),
    );
    const created: string[] = [];
    for (const [name, t] of this.#replicas) {
      if (known.has(name)) continue;
      await this.#db.transaction(async (sql) => {
        await sql(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
        await sql(createTableSql(t));
        await sql(
          `INSERT INTO ${quoteIdent(BOOKKEEPING_SCHEMA)}.replica_tables VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [name, t.schemaVersion],
        );
      });
      created.push(name);
    }
    return created;
  }

  /** Schema versions of the replica tables as built in the read database. */
  async builtVersions(): Promise<Map<string, number>> {
    const rows = await this.#db.query<{ table_name: string; schema_version: number }>(
      `SELECT table_name, schema_version FROM ${quoteIdent(BOOKKEEPING_SCHEMA)}.replica_tables`,
    );
    return new Map(rows.map((r) => [r.table_name, r.schema_version]));
  }

  /**
   * Brings a replica table to a newer layout of its source table: new columns are added (NULL in
   * rows written before), changed types converted through their text form. Columns dropped at the
   * source stay, and are NULL in rows written after.
   */
  async evolveReplica(next: ReplicaTable): Promise<void> {
    const name = `${next.schema}.${next.table}`;
    await this.#db.transaction(async (sql) => {
      const cols = await sql<{ name: string; type: string }>(
        `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type FROM pg_attribute a
         WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
        [next.qualified],
      );
      const have = new Map(cols.map((c) => [c.name, c.type]));
      const typeOf = await sql<{ name: string; type: string }>(
        `SELECT c.name, format_type(c.type::regtype, NULL) AS type
         FROM jsonb_to_recordset($1::jsonb) AS c(name text, type text)`,
        [JSON.stringify(next.columns.map((c) => ({ name: c.name, type: c.type })))],
      );
      for (const c of next.columns) {
        const want = typeOf.find((t) => t.name === c.name)!.type;
        const cur = have.get(c.name);
        if (cur === undefined)
          await sql(`ALTER TABLE ${next.qualified} ADD COLUMN ${quoteIdent(c.name)} ${c.type}`);
        else if (cur !== want)
          await sql(
            `ALTER TABLE ${next.qualified} ALTER COLUMN ${quoteIdent(c.name)} TYPE ${c.type} USING ${quoteIdent(c.name)}::text::${c.type}`,
          );
      }
      await sql(
        `INSERT INTO ${quoteIdent(BOOKKEEPING_SCHEMA)}.replica_tables VALUES ($1, $2)
         ON CONFLICT (table_name) DO UPDATE SET schema_version = EXCLUDED.schema_version`,
        [name, next.schemaVersion],
      );
    });
    // Dropped columns are kept in the table; facts no longer carry them.
    this.#replicas.set(name, next);
  }

  /** Models whose table is missing or whose SQL changed since it was built. */
  async staleModels(): Promise<ModelRuntime[]> {
    const rows = await this.#db.query<{ name: string; sql_hash: string | null; exists: boolean }>(
      `SELECT p.name, p.sql_hash, to_regclass(format('%I.%I', $1::text, p.name)) IS NOT NULL AS exists
       FROM ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions p WHERE p.name <> $2`,
      [this.#schema, REPLICA_ROW],
    );
    const byName = new Map(rows.map((r) => [r.name, r]));
    return this.#models.filter((m) => {
      const r = byName.get(m.def.name);
      return !r || !r.exists || r.sql_hash !== m.hash;
    });
  }

  /** Models whose rebuild was requested (`sluice read-models rebuild`). */
  async requestedRebuilds(): Promise<ModelRuntime[]> {
    const rows = await this.#db.query<{ name: string }>(
      `SELECT name FROM ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions
       WHERE rebuild_requested_at IS NOT NULL AND (rebuilt_at IS NULL OR rebuilt_at < rebuild_requested_at)`,
    );
    const names = new Set(rows.map((r) => r.name));
    return this.#models.filter((m) => names.has(m.def.name));
  }

  /** Rows the planner expects the model's SQL to return (EXPLAIN, nothing run): a rebuild's total. */
  async estimateRows(m: ModelRuntime): Promise<number> {
    const [r] = await this.#db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
      `EXPLAIN (FORMAT JSON) ${m.plan.sql}`,
    );
    return r?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0;
  }

  /**
   * Builds `<name>__next` from the replica with the plain SELECT and swaps it in, in one
   * transaction: readers see the old table until the commit, then the new one.
   */
  async rebuild(m: ModelRuntime): Promise<number> {
    const name = m.def.name;
    const next = `${name}__next`;
    const q = (n: string) => `${quoteIdent(this.#schema)}.${quoteIdent(n)}`;
    const rows = await this.#db.transaction(async (sql) => {
      const pos = await this.replicaPosition(sql);
      await sql(`DROP TABLE IF EXISTS ${q(next)}`);
      await sql(`CREATE TABLE ${q(next)} AS ${m.plan.sql}`);
      const count = await sql<{ n: string }>(`SELECT count(*) AS n FROM ${q(next)}`);
      await sql(
        `CREATE UNIQUE INDEX ${quoteIdent(next + '_key')} ON ${q(next)} (${m.def.key.map(quoteIdent).join(', ')})`,
      );
      await sql(`DROP TABLE IF EXISTS ${q(name)}`);
      await sql(`ALTER TABLE ${q(next)} RENAME TO ${quoteIdent(name)}`);
      await sql(
        `ALTER INDEX ${quoteIdent(this.#schema)}.${quoteIdent(next + '_key')} RENAME TO ${quoteIdent(name + '_key')}`,
      );
      await writePosition(sql, name, pos, m.hash);
      await sql(
        `UPDATE ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions SET rebuilt_at = clock_timestamp() WHERE name = $1`,
        [name],
      );
      return Number(count[0]!.n);
    });
    this.#keyColumns.delete(name);
    return rows;
  }

  /**
   * Applies whole source transactions as one read-database transaction; resolves, once it is
   * committed, to each model's number of recomputed keys.
   */
  async apply(txs: readonly SourceTransaction[]): Promise<Map<string, number>> {
    const recomputed = new Map<string, number>();
    if (txs.length === 0) return recomputed;
    const changes = new Map<string, TableChanges>();
    for (const tx of txs)
      for (const f of tx.facts) {
        const t = this.#replicas.get(f.table);
        if (!t) continue;
        let c = changes.get(f.table);
        if (!c) changes.set(f.table, (c = { table: t, last: new Map(), truncateVersion: null }));
        if (f.op === 'truncate') {
          c.truncateVersion = f.version;
          continue;
        }
        c.last.set(keyString(t, f.key), f);
      }
    const lastTx = txs[txs.length - 1]!;
    const pos: Position = {
      streamSeq: lastTx.lastSeq,
      lsn: lastTx.lsn,
      commitTime: lastTx.facts.find((f) => f.commitTime)?.commitTime ?? null,
    };
    for (const m of this.#models) if (!this.#keyColumns.has(m.def.name)) await this.#loadKeyColumns(m);
    await this.#db.transaction(async (sql) => {
      const keys = new Map<string, Map<string, Record<string, unknown>>>();
      for (const m of this.#models) keys.set(m.def.name, new Map());
      if (changes.size > 0) {
        await this.#affectedKeys(sql, changes, keys, 'before');
        await this.#applyReplica(sql, changes);
        await this.#affectedKeys(sql, changes, keys, 'after');
        for (const m of this.#models) await this.#recompute(sql, m, [...keys.get(m.def.name)!.values()]);
      }
      await writePosition(sql, REPLICA_ROW, pos, null);
      for (const m of this.#models) await writePosition(sql, m.def.name, pos, m.hash);
      for (const [name, k] of keys) recomputed.set(name, k.size);
    });
    return recomputed;
  }

  async #affectedKeys(
    sql: Sql,
    changes: Map<string, TableChanges>,
    keys: Map<string, Map<string, Record<string, unknown>>>,
    when: 'before' | 'after',
  ): Promise<void> {
    for (const m of this.#models) {
      const set = keys.get(m.def.name)!;
      for (const r of m.plan.restricted) {
        const c = changes.get(`${r.schema}.${r.table}`);
        if (!c) continue;
        // Before a truncate every row of the table is affected; after it, only the rows written since.
        const whole = when === 'before' && c.truncateVersion !== null;
        if (!whole && c.last.size === 0) continue;
        const relation = whole ? c.table.qualified : changedRowsSql(c.table, 1);
        const text = `SELECT to_jsonb(q) AS k FROM (${r.sql.replaceAll(r.placeholder, relation)}) q`;
        const params = whole ? [] : [JSON.stringify([...c.last.values()].map((f) => f.key))];
        for (const row of await sql<{ k: Record<string, unknown> }>(text, params)) {
          set.set(JSON.stringify(m.def.key.map((k) => row.k[k])), row.k);
        }
      }
    }
  }

  /** Writes facts of one table into its replica (loading a new table; no model depends on it yet). */
  async loadReplica(t: ReplicaTable, facts: readonly FactRecord[]): Promise<void> {
    const c: TableChanges = { table: t, last: new Map(), truncateVersion: null };
    for (const f of facts) {
      if (f.op === 'truncate') c.truncateVersion = f.version;
      else c.last.set(keyString(t, f.key), f);
    }
    await this.#db.transaction((sql) => this.#applyReplica(sql, new Map([[`${t.schema}.${t.table}`, c]])));
  }

  async #applyReplica(sql: Sql, changes: Map<string, TableChanges>): Promise<void> {
    for (const c of changes.values()) {
      const upserts: Record<string, unknown>[] = [];
      const deletes: Record<string, unknown>[] = [];
      for (const f of c.last.values()) {
        if (f.deleted) deletes.push({ ...f.key, '@v': f.version });
        else upserts.push({ ...f.row, '@v': f.version });
      }
      if (deletes.length) await sql(deleteSql(c.table), [JSON.stringify(deletes)]);
      if (upserts.length) await sql(upsertSql(c.table), [JSON.stringify(upserts)]);
      if (c.truncateVersion !== null) await sql(truncateSql(c.table), [c.truncateVersion]);
    }
  }

  async #loadKeyColumns(m: ModelRuntime): Promise<void> {
    const rows = await this.#db.query<KeyColumn>(
      `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type
       FROM pg_attribute a WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
       AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.#schema, m.def.name],
    );
    this.#keyColumns.set(
      m.def.name,
      m.def.key.map((k) => rows.find((r) => r.name === k) ?? { name: k, type: 'text' }),
    );
  }

  /**
   * Deletes and recomputes the model rows of `keys`. Each key column is filtered with `= ANY(array)`,
   * which PostgreSQL pushes into the model's query (grouping and base columns), so only the
   * affected groups are computed; a composite key adds the exact row match.
   */
  async #recompute(sql: Sql, m: ModelRuntime, keys: Record<string, unknown>[]): Promise<void> {
    if (keys.length === 0) return;
    const cols = this.#keyColumns.get(m.def.name)!;
    const params: unknown[] = cols.map((c) => keys.map((k) => scalarText(k[c.name])));
    if (cols.length > 1) params.push(JSON.stringify(keys));
    const filter = (alias: string) => {
      const parts = cols.map(
        (c, i) => `${alias}.${quoteIdent(c.name)} = ANY($${i + 1}::text[]::${c.type}[])`,
      );
      if (cols.length > 1) {
        const tuple = cols.map((c) => `${alias}.${quoteIdent(c.name)}`).join(', ');
        const vals = cols.map((c) => jsonValueSql({ name: c.name, type: c.type, kind: 'scalar' })).join(', ');
        parts.push(`(${tuple}) IN (SELECT ${vals} FROM jsonb_array_elements($${cols.length + 1}::jsonb) e)`);
      }
      return parts.join(' AND ');
    };
    const table = `${quoteIdent(this.#schema)}.${quoteIdent(m.def.name)}`;
    await sql(`DELETE FROM ${table} t WHERE ${filter('t')}`, params);
    await sql(`INSERT INTO ${table} SELECT q.* FROM (${m.plan.sql}) q WHERE ${filter('q')}`, params);
  }
}

function scalarText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function keyString(t: ReplicaTable, key: Record<string, unknown>): string {
  return JSON.stringify(t.key.map((k) => key[k]));
}

async function readPosition(sql: Sql, name: string): Promise<Position> {
  const r = await sql<{ stream_seq: string; lsn: string; commit_time: Date | null }>(
    `SELECT stream_seq, lsn::text AS lsn, commit_time FROM ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions WHERE name = $1`,
    [name],
  );
  const row = r[0];
  if (!row) return { streamSeq: 0, lsn: 0n, commitTime: null };
  return {
    streamSeq: Number(row.stream_seq),
    lsn: parseLsn(row.lsn),
    commitTime: row.commit_time ? row.commit_time.toISOString() : null,
  };
}

async function writePosition(sql: Sql, name: string, pos: Position, hash: string | null): Promise<void> {
  await sql(
    `INSERT INTO ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions (name, stream_seq, lsn, commit_time, sql_hash, applied_at)
     VALUES ($1, $2, $3::pg_lsn, $4, $5, clock_timestamp())
     ON CONFLICT (name) DO UPDATE SET stream_seq = EXCLUDED.stream_seq, lsn = EXCLUDED.lsn,
       commit_time = coalesce(EXCLUDED.commit_time, positions.commit_time),
       sql_hash = coalesce(EXCLUDED.sql_hash, positions.sql_hash), applied_at = EXCLUDED.applied_at`,
    [name, pos.streamSeq, formatLsn(pos.lsn), pos.commitTime, hash],
  );
}
