/**
 * A replica table in the read database: the source table's columns with their types, taken from
 * the schema registry (`<P>_SCHEMAS`, one JSON Schema per layout with `x-pg-type` per column and
 * `x-key`), under the source's own schema and table name, so a model's SQL runs there unchanged.
 * Pure: builds the SQL that creates, fills and reads the table from facts (JSON rows).
 *
 * Types: built-in types keep their type (without typmod: the values arrive already rounded);
 * arrays of built-ins keep the array type; domains become their base type; enums, ranges,
 * composites and extension types become `text` (their text form), which keeps equality, grouping
 * and string functions meaning the same, but not an enum's declaration order.
 */

/** One column of a replica table. */
export interface ReplicaColumn {
  readonly name: string;
  /** SQL type in the read database, e.g. `int8`, `numeric`, `text[]`. */
  readonly type: string;
  readonly kind: 'scalar' | 'json' | 'jsonb' | 'bytea' | 'array';
}

/** A replica table as the maintainer uses it. */
export interface ReplicaTable {
  readonly schema: string;
  readonly table: string;
  /** `"schema"."table"` */
  readonly qualified: string;
  readonly columns: readonly ReplicaColumn[];
  readonly key: readonly string[];
  readonly schemaVersion: number;
}

/** Column holding the version of the fact a row came from. */
export const VERSION_COLUMN = '_sluice_version';

/** What the registry stores per layout (connector/sink/schema-store.ts writes it). */
export interface StoredSchemaVersion {
  version: number;
  since: string;
  schema: {
    properties?: Record<string, { 'x-pg-type'?: string; description?: string }>;
    required?: string[];
    'x-key'?: string[];
  };
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** Builds the replica of `schema.table` from its newest registry entry; null when it has no key. */
export function replicaTableFrom(
  schema: string,
  table: string,
  versions: StoredSchemaVersion[],
): ReplicaTable | null {
  const latest = versions[versions.length - 1];
  if (!latest) return null;
  const key = latest.schema['x-key'] ?? [];
  if (key.length === 0) return null;
  const props = latest.schema.properties ?? {};
  // Every column, in column order: `required` lists only the key columns (a value Sluice does not
  // know is left out of a row, see docs/schemas.md).
  const order = Object.keys(props);
  const columns = order.map((name): ReplicaColumn => {
    const p = props[name] ?? {};
    return { name, ...columnType(p['x-pg-type'] ?? 'pg_catalog.text', p.description) };
  });
  return {
    schema,
    table,
    qualified: `${quoteIdent(schema)}.${quoteIdent(table)}`,
    columns,
    key,
    schemaVersion: latest.version,
  };
}

const SCALARS = new Set([
  'bool',
  'int2',
  'int4',
  'int8',
  'oid',
  'float4',
  'float8',
  'numeric',
  'money',
  'text',
  'varchar',
  'bpchar',
  'name',
  'uuid',
  'date',
  'time',
  'timetz',
  'timestamp',
  'timestamptz',
  'interval',
  'inet',
  'cidr',
  'macaddr',
  'macaddr8',
  'bit',
  'varbit',
  'xml',
  'tsvector',
  'tsquery',
  'point',
  'line',
  'lseg',
  'box',
  'path',
  'polygon',
  'circle',
]);

/** Maps a registry type (`pg_catalog.int8`, `pg_catalog._text`, `public.order_status`) to a column type. */
export function columnType(pgType: string, description?: string): Omit<ReplicaColumn, 'name'> {
  const dot = pgType.indexOf('.');
  const ns = pgType.slice(0, dot);
  const name = pgType.slice(dot + 1);
  if (ns !== 'pg_catalog') {
    // A domain's description names its base type ("Domain over pg_catalog.int4: …").
    const base = /^Domain over ([^\s:]+)/.exec(description ?? '')?.[1];
    if (base) return columnType(base);
    return { type: 'text', kind: 'scalar' };
  }
  if (name === 'json' || name === 'jsonb') return { type: name, kind: name };
  if (name === 'bytea') return { type: 'bytea', kind: 'bytea' };
  if (name.startsWith('_')) {
    const el = name.slice(1);
    return { type: SCALARS.has(el) ? `${el}[]` : 'text[]', kind: 'array' };
  }
  return { type: SCALARS.has(name) ? name : 'text', kind: 'scalar' };
}

/** CREATE TABLE of the replica (idempotent), primary key = the source's key. */
export function createTableSql(t: ReplicaTable): string {
  const cols = t.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`);
  cols.push(`${quoteIdent(VERSION_COLUMN)} text NOT NULL`);
  cols.push(`PRIMARY KEY (${t.key.map(quoteIdent).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${t.qualified} (\n  ${cols.join(',\n  ')}\n)`;
}

/** SQL expression reading column `c` from the JSON object `e` (a fact's row or key). */
export function jsonValueSql(c: ReplicaColumn, e = 'e'): string {
  const v = `${e}->${literal(c.name)}`;
  const t = `${e}->>${literal(c.name)}`;
  switch (c.kind) {
    case 'jsonb':
      return `nullif(${v}, 'null'::jsonb)`;
    case 'json':
      return `nullif(${v}, 'null'::jsonb)::json`;
    case 'bytea':
      return `decode(${t}, 'base64')`;
    case 'array':
      return `CASE WHEN jsonb_typeof(${v}) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(${v}))::${c.type} END`;
    default:
      return c.type === 'text' ? t : `(${t})::${c.type}`;
  }
}

function literal(s: string): string {
  return "'" + s.replace(/'/g, "''") + "'";
}

/**
 * Upsert of rows given as `$1`, a JSON array of fact rows each with `"@v"` (its version): a row
 * is written only when its version is newer than the one stored.
 */
export function upsertSql(t: ReplicaTable): string {
  const names = [...t.columns.map((c) => quoteIdent(c.name)), quoteIdent(VERSION_COLUMN)];
  const values = [...t.columns.map((c) => jsonValueSql(c)), `e->>'@v'`];
  const updates = names.map((n) => `${n} = EXCLUDED.${n}`);
  return (
    `INSERT INTO ${t.qualified} AS r (${names.join(', ')})\n` +
    `SELECT ${values.join(', ')} FROM jsonb_array_elements($1::jsonb) e\n` +
    `ON CONFLICT (${t.key.map(quoteIdent).join(', ')}) DO UPDATE SET ${updates.join(', ')}\n` +
    `WHERE r.${quoteIdent(VERSION_COLUMN)} < EXCLUDED.${quoteIdent(VERSION_COLUMN)}`
  );
}

/** Delete of the keys in `$1` (JSON array of key objects with `"@v"`) whose stored version is older. */
export function deleteSql(t: ReplicaTable): string {
  const keyCols = t.key.map((k) => t.columns.find((c) => c.name === k)!);
  const match = keyCols.map((c) => `r.${quoteIdent(c.name)} = ${jsonValueSql(c)}`);
  return (
    `DELETE FROM ${t.qualified} AS r USING jsonb_array_elements($1::jsonb) e\n` +
    `WHERE ${match.join(' AND ')} AND r.${quoteIdent(VERSION_COLUMN)} < e->>'@v'`
  );
}

/** TRUNCATE of the source: every row older than the truncate's version (`$1`) goes. */
export function truncateSql(t: ReplicaTable): string {
  return `DELETE FROM ${t.qualified} WHERE ${quoteIdent(VERSION_COLUMN)} < $1`;
}

/**
 * The changed rows of this table as a relation (what a restricted query's placeholder becomes):
 * the rows whose key is in the JSON array bound to parameter `$n`.
 */
export function changedRowsSql(t: ReplicaTable, param: number): string {
  const keyCols = t.key.map((k) => t.columns.find((c) => c.name === k)!);
  const cols = keyCols.map((c) => quoteIdent(c.name)).join(', ');
  const vals = keyCols.map((c) => jsonValueSql(c)).join(', ');
  return `(SELECT * FROM ${t.qualified} WHERE (${cols}) IN (SELECT ${vals} FROM jsonb_array_elements($${param}::jsonb) e))`;
}
