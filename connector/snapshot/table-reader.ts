/**
 * A table as the snapshot reads it: described as the events describe it, its size estimated, and
 * its rows read in chunks in identity order (keyset pagination, one short statement each). The
 * columns themselves are read as their output functions' text (`readRawRows`): what pgoutput sends,
 * so a snapshot fact has the same JSON as a streamed one.
 */
import type { SnapshotTarget, TableInfo } from '../ports.js';
import { describeRelation, MemorySchemaRegistry } from '../events/tables.js';
import type { ColumnPolicy } from '../events/column-policy.js';
import type { RelationMessage } from '../source/pgoutput.js';
import { readRawRows } from '../source/row-reader.js';
import type { SqlClient } from '../source/sql-connection.js';
import { pgCatalog } from '../source/sql-ports.js';
import { quoteIdent } from '../source/sql.js';

/**
 * The table `name` ("schema.table") as the events describe it: the processor's own description
 * when the table already streamed in this session, else described from the catalog with the same
 * schema fingerprint. Null when the table does not exist.
 */
export async function describeSnapshotTable(
  sql: SqlClient,
  name: string,
  o: {
    /** The session's processor, if attached: its tables and schema registry. */
    processor: SnapshotTarget | null;
    /** The connection catalog lookups use (the session's), else `sql`. */
    catalogSql: SqlClient | null;
    prefix: string;
    columns: ColumnPolicy;
  },
): Promise<TableInfo | null> {
  const r = await sql.query(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS tbl FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = $1`,
    [name],
  );
  const row = r.rows[0];
  if (!row) return null;
  const oid = Number(row.oid);
  const known = o.processor ? [...o.processor.tables()].find((t) => t.relationId === oid) : undefined;
  if (known) return known;
  const cols = await sql.query(
    `SELECT attname, atttypid::int8 AS typ, atttypmod AS mod FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    [oid],
  );
  const catalog = pgCatalog(o.catalogSql ?? sql);
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
    o.prefix,
    catalog,
    o.processor?.registry ?? new MemorySchemaRegistry(),
    null,
    undefined,
    undefined,
    o.columns,
  );
}

/** `{"a","b"}`: the identity columns' names as a PostgreSQL text array literal. */
export function keyNamesLiteral(t: TableInfo): string {
  return `{${t.keyIdx.map((i) => '"' + t.columns[i]!.name.replace(/(["\\])/g, '\\$1') + '"').join(',')}}`;
}

/** `"schema"."table" t`: the FROM item of the table's reads. */
function fromItem(t: TableInfo): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.table)} t`;
}

/**
 * The SELECT of one chunk: the columns, in identity order, after the last key done when `resume`
 * (its values are `$1`… cast to the identity columns' types `keyTypes`), at most `limit` rows.
 * Keyset pagination orders by the key columns' own types.
 */
export function chunkSelect(
  t: TableInfo,
  keyTypes: readonly string[],
  resume: boolean,
  limit: number,
): string {
  const colList = t.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
  const keyCols = t.keyIdx.map((i) => `t.${quoteIdent(t.columns[i]!.name)}`);
  const where = resume
    ? `WHERE (${keyCols.join(', ')}) > (${keyTypes.map((c, i) => `$${i + 1}::${c}`).join(', ')})`
    : '';
  return `SELECT ${colList} FROM ${fromItem(t)} ${where} ORDER BY ${keyCols.join(', ')} LIMIT ${limit}`;
}

/** The identity columns' types (`format_type`), in column order: the casts of a chunk's lower bound. */
export async function keyTypes(sql: SqlClient, t: TableInfo): Promise<string[]> {
  const r = await sql.query(
    `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1 AND attname = ANY($2::text[])
        ORDER BY attnum`,
    [t.relationId, keyNamesLiteral(t)],
  );
  return r.rows.map((r) => r.t as string);
}

/** The table's rows: the planner's estimate; a table never analyzed (reltuples -1) is counted once instead. */
export async function estimateRows(sql: SqlClient, t: TableInfo): Promise<number> {
  const est = await sql.query(`SELECT reltuples::int8 AS n FROM pg_class WHERE oid = $1`, [t.relationId]);
  const total = Number(est.rows[0]?.n ?? -1);
  if (total >= 0) return total;
  return Number((await sql.query(`SELECT count(*)::int8 AS n FROM ${fromItem(t)}`)).rows[0].n);
}

/** A chunk as read: its rows as JSON fragments per column, and the raw text of its last identity. */
export interface ChunkRows {
  rows: string[][];
  /** Raw text of the last row's identity columns; null when the chunk is empty. */
  lastKey: string[] | null;
}

/** Raw rows (the output functions' text, null for NULL) as a chunk: values mapped to JSON fragments. */
export function chunkRows(t: TableInfo, raw: readonly (readonly (string | null)[])[]): ChunkRows {
  return {
    lastKey: raw.length ? t.keyIdx.map((i) => raw[raw.length - 1]![i] as string) : null,
    rows: raw.map((row) => row.map((v, i) => (v === null ? 'null' : t.columns[i]!.mapper(v)))),
  };
}

/** Reads the chunk after `lastKey` (null: from the start) of at most `limit` rows. */
export async function readChunk(
  sql: SqlClient,
  t: TableInfo,
  types: readonly string[],
  lastKey: string[] | null,
  limit: number,
): Promise<ChunkRows> {
  return chunkRows(t, await readRawRows(sql, chunkSelect(t, types, !!lastKey, limit), lastKey ?? []));
}
