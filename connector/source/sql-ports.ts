/**
 * The ports the events stage reads the source database through, implemented over a SQL
 * connection: `Catalog` (types and a table's identity, NOT NULL columns and attributes) and
 * `RowSource` (current values of one row, for unchanged TOAST values Sluice never saw).
 */
import type { SqlClient } from './sql-connection.js';
import type { Catalog, RowSource } from '../ports.js';
import { readRawRows } from './row-reader.js';
import { quoteIdent } from './sql.js';
import { loadTypes, type PgType } from './type-catalog.js';

/** The Catalog the event builder uses, over a SQL connection. */
export function pgCatalog(c: SqlClient): Catalog {
  const types = new Map<number, PgType>();
  return {
    async loadTypes(oids: number[]) {
      const missing = oids.filter((o) => !types.has(o));
      if (missing.length) for (const [oid, t] of await loadTypes(c, missing)) types.set(oid, t);
      return new Map(oids.map((o) => [o, types.get(o)!] as const).filter(([, t]) => t !== undefined));
    },
    async describe(relationId: number) {
      const r = await c.query(
        `SELECT a.attname, a.attnotnull, a.attnum, a.atthasdef, a.atttypid::int8 AS typ, a.attgenerated <> '' AS generated,
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND a.attnum = ANY(i.indkey)
                          AND i.indisprimary) AS in_pk,
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND a.attnum = ANY(i.indkey)
                          AND i.indisreplident) AS in_ri
           FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [relationId],
      );
      const bool = (v: unknown) => v === true || v === 't';
      const rows = r.rows as {
        attname: string;
        attnotnull: unknown;
        attnum: unknown;
        atthasdef: unknown;
        typ: unknown;
        generated: unknown;
        in_pk: unknown;
        in_ri: unknown;
      }[];
      const hasPk = rows.some((x) => bool(x.in_pk));
      const identity = rows.filter((x) => (hasPk ? bool(x.in_pk) : bool(x.in_ri))).map((x) => x.attname); // column order, like the key flags of a Relation message
      return {
        identity,
        notNull: new Set(rows.filter((x) => bool(x.attnotnull)).map((x) => x.attname)),
        // What pgoutput publishes (no generated columns), in attnum order like a Relation message.
        attributes: rows
          .filter((x) => !bool(x.generated))
          .map((x) => ({ name: x.attname, attnum: Number(x.attnum), typeOid: Number(x.typ) })),
        defaults: new Set(rows.filter((x) => bool(x.atthasdef)).map((x) => x.attname)),
      };
    },
  };
}

/**
 * Current column values of one row, by key, as JSON fragments (see RowSource in
 * change-processor.ts), read as the output functions' text like a streamed row (readRawRows). Key
 * values arrive as JSON fragments and are bound as text, cast to each key column's type, so the
 * primary-key index serves the lookup.
 */
export function pgRowSource(c: SqlClient): RowSource {
  const types = new Map<number, Map<string, string>>();
  return {
    async readColumns(t, key, columns) {
      let colTypes = types.get(t.relationId);
      if (!colTypes) {
        const r = await c.query(
          `SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute
            WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`,
          [t.relationId],
        );
        colTypes = new Map(r.rows.map((x) => [x.attname as string, x.t as string]));
        types.set(t.relationId, colTypes);
      }
      const where = t.keyIdx
        .map(
          (i, k) =>
            `t.${quoteIdent(t.columns[i]!.name)} = $${k + 1}::${colTypes!.get(t.columns[i]!.name) ?? 'text'}`,
        )
        .join(' AND ');
      const select = columns.map((i) => `t.${quoteIdent(t.columns[i]!.name)}`).join(', ');
      const params = key.map((f) => {
        const v = JSON.parse(f) as unknown;
        return typeof v === 'string' ? v : JSON.stringify(v);
      });
      const [row] = await readRawRows(
        c,
        `SELECT ${select} FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)} t WHERE ${where}`,
        params,
      );
      if (!row) return null;
      return new Map(
        columns.map((i, k) => [i, row[k] === null ? 'null' : t.columns[i]!.mapper(row[k]!)] as const),
      );
    },
  };
}
