/**
 * Test support for the events folder's unit tests: built-in PostgreSQL types and a catalog that
 * serves them, so each test describes tables without a server. Not used by the connector itself.
 */
import type { Catalog } from '../ports.js';
import type { PgType } from '../source/type-catalog.js';

/** A built-in base type of `pg_catalog`. */
export function pgType(oid: number, name: string): PgType {
  return { oid, schema: 'pg_catalog', name, kind: 'b', category: 'N', delim: ',', element: null, base: null };
}

/** int4 (23), int8 (20), text (25) and jsonb (3802). */
export const TEST_TYPES: ReadonlyMap<number, PgType> = new Map(
  (
    [
      [23, 'int4'],
      [20, 'int8'],
      [25, 'text'],
      [3802, 'jsonb'],
    ] as const
  ).map(([oid, name]) => [oid, pgType(oid, name)]),
);

/** A catalog of TEST_TYPES whose tables have `identity` as replica identity (NOT NULL). */
export function testCatalog(identity: readonly string[] = ['id']): Catalog {
  return {
    loadTypes: async (oids) => new Map(oids.map((o) => [o, TEST_TYPES.get(o)!] as const)),
    describe: async () => ({ identity: [...identity], notNull: new Set(identity) }),
  };
}
