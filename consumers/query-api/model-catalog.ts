/**
 * Which models the API serves and their columns: the configured models whose table exists in the
 * read database, with each column's type from the catalog (a model's output types come from its
 * SQL, so they are read, not configured). Reloaded when a request names a model whose table was
 * missing or rebuilt.
 */
import type { ReadModelDefinition } from '../read-models/config.js';
import type { ModelColumn } from './json-columns.js';
import type { ServedModel } from './model-queries.js';
import type { QueryDb } from './query-db.js';

export async function loadModels(
  db: QueryDb,
  schema: string,
  defs: readonly Pick<ReadModelDefinition, 'name' | 'key'>[],
): Promise<Map<string, ServedModel>> {
  const rows = await db.query(
    `SELECT c.relname AS model, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS sql_type,
       coalesce(bt.typname, t.typname) AS typname, et.typname AS elem
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     LEFT JOIN pg_type et ON et.oid = coalesce(bt.typelem, t.typelem) AND coalesce(bt.typcategory, t.typcategory) = 'A'
     WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind = 'r'
     ORDER BY c.relname, a.attnum`,
    [schema, `{${defs.map((d) => `"${d.name}"`).join(',')}}`],
  );
  const cols = new Map<string, ModelColumn[]>();
  for (const r of rows) {
    const list = cols.get(r.model!) ?? [];
    list.push({ name: r.name!, sqlType: r.sql_type!, typname: r.typname!, elemTypname: r.elem ?? null });
    cols.set(r.model!, list);
  }
  const out = new Map<string, ServedModel>();
  for (const d of defs) {
    const columns = cols.get(d.name);
    if (columns) out.set(d.name, { name: d.name, schema, key: d.key, columns });
  }
  return out;
}
