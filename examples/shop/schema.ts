import { readFile } from 'node:fs/promises';
import { withDb, type Queryable } from './db.js';

/** The shop's tables in foreign-key order (parents first); all live in schema `public`. */
export const SHOP_TABLES = [
  'customers',
  'addresses',
  'products',
  'inventory',
  'orders',
  'order_items',
  'payments',
  'audit_log',
] as const;

/** Name of one of the shop's tables. */
export type ShopTable = (typeof SHOP_TABLES)[number];

// schema.sql is the single source of the DDL. tsc does not copy it into dist/, so when this module
// runs compiled (dist/examples/shop/schema.js) the file is found three levels up, in the package's
// own examples/shop/ folder.
const SCHEMA_CANDIDATES = [
  new URL('./schema.sql', import.meta.url),
  new URL('../../../examples/shop/schema.sql', import.meta.url),
];

let schemaSql: Promise<string> | undefined;

/** The shop's DDL (the text of schema.sql), read once. */
export function shopSchemaSql(): Promise<string> {
  schemaSql ??= (async () => {
    for (const candidate of SCHEMA_CANDIDATES) {
      try {
        return await readFile(candidate, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    throw new Error(
      `examples/shop/schema.sql not found (looked at ${SCHEMA_CANDIDATES.map((u) => u.pathname).join(', ')}); ` +
        'run from a checkout or a package that ships examples/.',
    );
  })();
  return schemaSql;
}

/** Creates the shop's enum, tables and indexes where missing; safe to run again. */
export async function createShop(db: string | Queryable): Promise<void> {
  const sql = await shopSchemaSql();
  await withDb(db, (q) => q.query(sql));
}

/** Drops every shop table and the `order_status` enum if they exist (their data is lost). */
export async function dropShop(db: string | Queryable): Promise<void> {
  const tables = [...SHOP_TABLES]
    .reverse()
    .map((t) => `public.${t}`)
    .join(', ');
  await withDb(db, (q) =>
    q.query(`DROP TABLE IF EXISTS ${tables}; DROP TYPE IF EXISTS public.order_status;`),
  );
}
