/**
 * Resolves PostgreSQL type OIDs (as sent in pgoutput Relation messages) to catalog descriptions
 * that the event builder compiles into value mappers (see `connector/events/type-mapping.ts`).
 *
 * Pure SQL over a minimal client interface, so it works with any driver and is testable with a
 * real server only; it does not import `pg`.
 */

/** One row of `pg_type`, linked to the types it is built from. */
export interface PgType {
  /** `pg_type.oid`. */
  oid: number;
  /** Namespace name (`pg_namespace.nspname`), e.g. `pg_catalog`, `public`. */
  schema: string;
  /** `pg_type.typname`, e.g. `int4`, `_int4` (arrays), `mood`. */
  name: string;
  /** `pg_type.typtype`: b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  kind: 'b' | 'c' | 'd' | 'e' | 'p' | 'r' | 'm' | 'M';
  /** `pg_type.typcategory`, e.g. `A` array, `N` numeric, `S` string, `U` user-defined. */
  category: string;
  /** `pg_type.typdelim`: the element separator in array literals of this type (`;` for box). */
  delim: string;
  /** Element type of an array type (`typelem` when `typcategory = 'A'`), else null. */
  element: PgType | null;
  /** Base type of a domain (`typbasetype`), else null. */
  base: PgType | null;
  /** Attributes of a composite type, in column order; absent for other kinds. */
  fields?: { name: string; type: PgType }[];
}

/** The smallest client surface `loadTypes` needs; `pg.Client` and `pg.Pool` satisfy it. */
export interface CatalogClient {
  // `any` mirrors the drivers' own row type; rows are read field by field and converted below.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(sql: string, params?: unknown[]): Promise<{ rows: any[] }>;
}

/**
 * One round trip: a recursive CTE walks from the requested types to array elements, domain base
 * types and composite attribute types (transitively), and returns one row per type with the
 * composite's attributes aggregated as JSON. Dropped attributes are skipped, like pgoutput does.
 * Every column comes back as text (OIDs via int8 so values above 2^31 stay unsigned), so the result
 * does not depend on a driver's type parsers; `$1` is an array literal for the same reason.
 */
const TYPES_SQL = `
WITH RECURSIVE wanted(oid) AS (
  SELECT DISTINCT unnest($1::oid[])
  UNION
  SELECT dep.oid
  FROM wanted w
  JOIN pg_catalog.pg_type t ON t.oid = w.oid
  CROSS JOIN LATERAL (
    SELECT t.typelem WHERE t.typcategory = 'A' AND t.typelem <> 0
    UNION ALL
    SELECT t.typbasetype WHERE t.typtype = 'd' AND t.typbasetype <> 0
    UNION ALL
    SELECT a.atttypid FROM pg_catalog.pg_attribute a
    WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
  ) AS dep(oid)
)
SELECT t.oid::int8::text AS oid,
       n.nspname AS schema,
       t.typname AS name,
       t.typtype::text AS kind,
       t.typcategory::text AS category,
       t.typdelim::text AS delim,
       CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END::int8::text AS element,
       CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE 0 END::int8::text AS base,
       CASE WHEN t.typtype = 'c' THEN (
         SELECT coalesce(json_agg(json_build_object('name', a.attname, 'type', a.atttypid::int8)
                                  ORDER BY a.attnum), '[]'::json)::text
         FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
       ) END AS fields
FROM wanted w
JOIN pg_catalog.pg_type t ON t.oid = w.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
`;

interface TypeRow {
  oid: string;
  schema: string;
  name: string;
  kind: string;
  category: string;
  delim: string;
  element: string;
  base: string;
  fields: string | null;
}

const KINDS: ReadonlySet<string> = new Set(['b', 'c', 'd', 'e', 'p', 'r', 'm', 'M']);

/**
 * Loads the types with the given OIDs and, recursively, their array element, domain base and
 * composite attribute types, in one catalog query. The result holds every resolved type (the
 * requested ones and their dependencies), keyed by OID, with `element`/`base`/`fields` linked to
 * the same objects; OIDs not in the catalog (e.g. a type dropped meanwhile) are absent.
 */
export async function loadTypes(client: CatalogClient, oids: number[]): Promise<Map<number, PgType>> {
  const types = new Map<number, PgType>();
  if (oids.length === 0) return types;
  const { rows } = await client.query(TYPES_SQL, [`{${oids.join(',')}}`]);
  const links: {
    type: PgType;
    element: number;
    base: number;
    fields: { name: string; type: number }[] | null;
  }[] = [];
  for (const raw of rows as TypeRow[]) {
    const kind = String(raw.kind);
    const type: PgType = {
      oid: Number(raw.oid),
      schema: String(raw.schema),
      name: String(raw.name),
      // An unknown typtype would be a new PostgreSQL feature; 'p' makes it map to its text form.
      kind: (KINDS.has(kind) ? kind : 'p') as PgType['kind'],
      category: String(raw.category),
      delim: String(raw.delim),
      element: null,
      base: null,
    };
    types.set(type.oid, type);
    links.push({
      type,
      element: Number(raw.element),
      base: Number(raw.base),
      fields: raw.fields == null ? null : parseFields(raw.fields),
    });
  }
  // Link after all rows are in, because the CTE returns types in no particular order.
  for (const { type, element, base, fields } of links) {
    if (element !== 0) type.element = types.get(element) ?? null;
    if (base !== 0) type.base = types.get(base) ?? null;
    if (fields !== null) {
      type.fields = [];
      for (const field of fields) {
        const fieldType = types.get(field.type);
        if (fieldType !== undefined) type.fields.push({ name: field.name, type: fieldType });
      }
    }
  }
  return types;
}

function parseFields(json: string): { name: string; type: number }[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) return [];
  return parsed.map((f: { name: unknown; type: unknown }) => ({
    name: String(f.name),
    type: Number(f.type),
  }));
}
