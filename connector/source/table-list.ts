/**
 * The tables Sluice may capture: the source's user tables matching the configured patterns, with
 * what decides how they are published (their replica identity) and whether Sluice's role may add
 * them to a publication (ownership); and a table's columns, which the column policy is checked
 * against.
 */
import type { SqlClient } from './sql-connection.js';

/** A table Sluice may capture. */
export interface TableRow {
  oid: number;
  schema: string;
  table: string;
  /** pg_class.relreplident: d default, n nothing, f full, i index */
  replident: string;
  hasPrimaryKey: boolean;
  hasIdentityIndex: boolean;
  partitioned: boolean;
  owned: boolean;
}

/** Whether updates and deletes of the table can be published without failing. */
export function hasUsableIdentity(t: TableRow): boolean {
  return (
    t.replident === 'f' ||
    (t.replident === 'd' && t.hasPrimaryKey) ||
    (t.replident === 'i' && t.hasIdentityIndex)
  );
}

/** User tables (ordinary and partitioned roots; not partitions) matching the patterns. */
export async function listTables(c: SqlClient, patterns: readonly string[]): Promise<TableRow[]> {
  const r = await c.query(`
    SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS tbl, c.relreplident AS replident,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS has_ri,
           c.relkind = 'p' AS partitioned,
           pg_has_role(c.relowner, 'USAGE') AS owned
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
       AND n.nspname NOT LIKE 'pg_temp%'
     ORDER BY 2, 3`);
  const matchers = patterns.map(globToRegExp);
  const bool = (v: unknown) => v === true || v === 't';
  return r.rows
    .map((row) => ({
      oid: Number(row.oid),
      schema: row.schema as string,
      table: row.tbl as string,
      replident: row.replident as string,
      hasPrimaryKey: bool(row.has_pk),
      hasIdentityIndex: bool(row.has_ri),
      partitioned: bool(row.partitioned),
      owned: bool(row.owned),
    }))
    .filter((t) => matchers.some((m) => m.test(`${t.schema}.${t.table}`)));
}

/** Whether "schema.table" matches a configured pattern (`*` matches within one name part). */
export function globToRegExp(pattern: string): RegExp {
  const esc = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*');
  return new RegExp(`^${esc}$`);
}

/**
 * A table's columns in attnum order, each with whether it belongs to the primary key or the
 * replica-identity index (either can key the events): what the column policy is checked against.
 */
export async function tableColumns(
  c: SqlClient,
  relationId: number,
): Promise<{ name: string; identity: boolean }[]> {
  const r = await c.query(
    `SELECT a.attname,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND a.attnum = ANY(i.indkey)
                      AND (i.indisprimary OR i.indisreplident)) AS ident
       FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relationId],
  );
  return (r.rows as { attname: string; ident: unknown }[]).map((x) => ({
    name: x.attname,
    identity: x.ident === true || x.ident === 't',
  }));
}
