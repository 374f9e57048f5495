/**
 * The table side of `sluice verify`: each table described the way the connector describes it
 * (same columns, same identity, the connector's own value mappers from events/type-mapping.ts),
 * rows read in key order in bounded chunks, and rows looked up by key in batches — each read
 * followed by the WAL position it saw, so a difference can be re-checked once the connector has
 * passed it.
 *
 * Values are read in the output functions' text form through source/row-reader.ts (plain column
 * references, the driver's type parsers off, the replication session's settings), which is what
 * pgoutput sends. Never `::text` casts: they print bool as `true`, drop char(n) padding and add
 * `/32` to inet.
 */
import type { SqlClient } from '../source/sql-connection.js';
import type { RelationMessage } from '../source/pgoutput.js';
import type { PgType } from '../source/type-catalog.js';
import { readRawRows } from '../source/row-reader.js';
import { pgCatalog } from '../source/sql-ports.js';
import { quoteIdent } from '../source/sql.js';
import type { TableRow } from '../source/table-list.js';
import { describeRelation, MemorySchemaRegistry } from '../events/tables.js';
import type { ColumnPolicy } from '../events/column-policy.js';
import type { TableInfo } from '../ports.js';
import { encodeKeyFragments } from '../../schemas/keys.js';
import { parseLsn } from '../../schemas/versions.js';

/** A captured table as verify reads it. */
export interface VerifyTable {
  /** Columns with the connector's mappers, identity, fact subject prefix. */
  readonly info: TableInfo;
  /** Identity columns in key order: name, SQL type (for casts) and catalog type. */
  readonly keyColumns: readonly { name: string; sqlType: string; type: PgType }[];
}

/** One row read from a table. */
export interface TableRowRead {
  /** The key token of its fact subject. */
  readonly token: string;
  /** Identity values in PostgreSQL's text form (bound as query parameters to read the row again). */
  readonly keyText: readonly string[];
  /** Identity values as JSON texts (what a fact's `data.key` holds). */
  readonly key: ReadonlyMap<string, string>;
  /** Every column as the connector maps it: name → JSON text. */
  readonly values: ReadonlyMap<string, string>;
}

/** Rows read by one statement and the WAL position right after it. */
export interface RowsRead {
  readonly rows: TableRowRead[];
  /** `pg_current_wal_lsn()` after the read: every commit the read saw ends at or before it. */
  readonly lsn: bigint;
}

async function currentWalLsn(sql: SqlClient): Promise<bigint> {
  const [row] = await readRawRows(sql, 'SELECT pg_current_wal_lsn()');
  return parseLsn(row![0]!);
}

/**
 * Describes a table as the connector does from a Relation message: the columns pgoutput sends
 * (not dropped, not generated), the identity the replica identity implies, the connector's value
 * mappers. Null when the table has no usable identity (it has no facts).
 */
export async function describeTable(
  sql: SqlClient,
  prefix: string,
  table: TableRow,
  policy?: ColumnPolicy,
): Promise<VerifyTable | null> {
  const cols = await readRawRows(
    sql,
    `SELECT a.attname, a.atttypid::int8, a.atttypmod, format_type(a.atttypid, a.atttypmod),
            COALESCE((SELECT a.attnum = ANY(i.indkey) FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary), false),
            COALESCE((SELECT a.attnum = ANY(i.indkey) FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisreplident), false)
       FROM pg_attribute a
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attnum`,
    [table.oid],
  );
  const replicaIdentity = ({ d: 'default', n: 'nothing', f: 'full', i: 'index' } as const)[
    table.replident as 'd' | 'n' | 'f' | 'i'
  ];
  // pgoutput flags the primary key (default), the replica-identity index (index) or every column
  // (full); describeRelation takes the catalog's identity for full and nothing, like the connector.
  const rel: RelationMessage = {
    tag: 'relation',
    relationId: table.oid,
    schema: table.schema,
    table: table.table,
    replicaIdentity: replicaIdentity ?? 'default',
    columns: cols.map((c) => ({
      name: c[0]!,
      typeOid: Number(c[1]),
      typeMod: Number(c[2]),
      isKey: replicaIdentity === 'full' || (replicaIdentity === 'index' ? c[5] === 't' : c[4] === 't'),
    })),
  };
  const catalog = pgCatalog(sql);
  // The connector's column policy, so rows compare with facts as published (masked, excluded).
  const info = await describeRelation(
    rel,
    prefix,
    catalog,
    new MemorySchemaRegistry(),
    null,
    undefined,
    undefined,
    policy,
  );
  if (info.keyIdx.length === 0) return null;
  const types = await catalog.loadTypes(info.keyIdx.map((i) => info.columns[i]!.typeOid));
  const keyColumns = info.keyIdx.map((i) => {
    const c = info.columns[i]!;
    const sqlType = cols.find((r) => r[0] === c.name)![3]!;
    return { name: c.name, sqlType, type: types.get(c.typeOid)! };
  });
  return { info, keyColumns };
}

function columnList(t: VerifyTable): string {
  return t.info.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
}

function tableName(t: VerifyTable): string {
  return `${quoteIdent(t.info.schema)}.${quoteIdent(t.info.table)}`;
}

function toRead(t: VerifyTable, raw: (string | null)[]): TableRowRead {
  const cols = t.info.columns;
  const values = new Map<string, string>();
  for (let i = 0; i < cols.length; i++) {
    const v = raw[i];
    values.set(cols[i]!.name, v === null || v === undefined ? 'null' : cols[i]!.mapper(v));
  }
  const keyFragments = t.info.keyIdx.map((i) => values.get(cols[i]!.name)!);
  return {
    token: encodeKeyFragments(keyFragments),
    keyText: t.info.keyIdx.map((i) => raw[i] ?? ''),
    key: new Map(t.info.keyIdx.map((i, k) => [cols[i]!.name, keyFragments[k]!] as const)),
    values,
  };
}

/**
 * The next `limit` rows in key order after the key `after` (identity values in text form; null
 * for the first chunk). Keyset pagination on the identity, so each chunk is one index range scan.
 */
export async function readChunk(
  sql: SqlClient,
  t: VerifyTable,
  after: readonly string[] | null,
  limit: number,
): Promise<RowsRead> {
  const keys = t.keyColumns.map((k) => `t.${quoteIdent(k.name)}`);
  const where = after
    ? `WHERE (${keys.join(', ')}) > (${t.keyColumns.map((k, i) => `$${i + 1}::${k.sqlType}`).join(', ')})`
    : '';
  const raw = await readRawRows(
    sql,
    `SELECT ${columnList(t)} FROM ${tableName(t)} t ${where} ORDER BY ${keys.join(', ')} LIMIT ${limit}`,
    after ? [...after] : [],
  );
  const lsn = await currentWalLsn(sql);
  return { rows: raw.map((r) => toRead(t, r)), lsn };
}

/**
 * The rows with the given identities (text form, in key-column order), in one statement: the keys
 * are bound as text arrays and cast to the key columns' types, so the identity index serves it.
 */
export async function readByKeys(
  sql: SqlClient,
  t: VerifyTable,
  keys: readonly (readonly string[])[],
): Promise<RowsRead> {
  if (keys.length === 0) return { rows: [], lsn: await currentWalLsn(sql) };
  const names = t.keyColumns.map((_, i) => `k${i}`);
  const on = t.keyColumns
    .map((k, i) => `t.${quoteIdent(k.name)} = k.${names[i]}::${k.sqlType}`)
    .join(' AND ');
  const raw = await readRawRows(
    sql,
    `SELECT ${columnList(t)} FROM ${tableName(t)} t
       JOIN unnest(${names.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS k(${names.join(', ')}) ON ${on}`,
    t.keyColumns.map((_, i) => keys.map((k) => k[i]!)),
  );
  const lsn = await currentWalLsn(sql);
  return { rows: raw.map((r) => toRead(t, r)), lsn };
}

/**
 * PostgreSQL input text of a key value given as the JSON text a fact carries (`data.key`), so a
 * fact's row can be looked up: the inverse of the type mapping for the types a key can have.
 * Null when the value cannot be a key (JSON null) or cannot be converted.
 */
export function keyInputText(json: string, type: PgType): string | null {
  if (json === 'null') return null;
  const base = resolveDomain(type);
  if (base.schema === 'pg_catalog' && (base.name === 'json' || base.name === 'jsonb')) return json;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  return valueText(value, json, base);
}

function resolveDomain(type: PgType): PgType {
  let t = type;
  while (t.kind === 'd' && t.base !== null) t = t.base;
  return t;
}

function valueText(value: unknown, json: string, type: PgType): string | null {
  if (value === null) return null;
  if (type.category === 'A' && type.element !== null) {
    if (!Array.isArray(value)) return null;
    return arrayLiteral(value, resolveDomain(type.element));
  }
  if (type.schema === 'pg_catalog' && type.name === 'bytea') {
    return typeof value === 'string' ? '\\x' + Buffer.from(value, 'base64').toString('hex') : null;
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return json;
  return null;
}

function arrayLiteral(values: readonly unknown[], element: PgType): string | null {
  const parts: string[] = [];
  for (const v of values) {
    if (v === null) {
      parts.push('NULL');
      continue;
    }
    const text = Array.isArray(v) ? arrayLiteral(v, element) : valueText(v, JSON.stringify(v), element);
    if (text === null) return null;
    parts.push(Array.isArray(v) ? text : '"' + text.replace(/(["\\])/g, '\\$1') + '"');
  }
  return '{' + parts.join(element.delim || ',') + '}';
}
