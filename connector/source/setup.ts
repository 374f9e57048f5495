/**
 * What the connector needs from the source database before streaming lives in one module per job:
 * `sql-connection.ts` (the SQL connection), `server-checks.ts` (version, wal_level, replication
 * right), `table-list.ts` (the tables Sluice may capture, a table's columns), `publications.ts`,
 * `slot.ts`, `sql.ts` (quoting, privilege errors explained) and `sql-ports.ts` (the `Catalog` and
 * `RowSource` ports over SQL).
 *
 * This module only re-exports what `snapshot/snapshotter.ts` imports from here, until that module
 * (changed elsewhere) imports them from their own modules; nothing else may import it.
 */
export { connectSql } from './sql-connection.js';
export { pgCatalog } from './sql-ports.js';
export { quoteIdent } from './sql.js';
export type { TableRow } from './table-list.js';
