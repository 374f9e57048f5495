/**
 * Type mapping against a real PostgreSQL: every value is produced by the server's own output
 * functions under the connector's session settings, the types come from `loadTypes`, and the
 * mapped JSON is compared with literal expectations and checked against `columnSchema`.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnSchema, mapText, mapperFor, type JsonSchema } from '../../connector/events/type-mapping.js';
import { loadTypes, type PgType } from '../../connector/source/type-catalog.js';
import { closeAll, startPostgres } from '../harness/index.js';
import { cases, column, createTypeTable, insertTypeRows } from './type-cases.js';

/** The output settings the connector fixes on its replication session. */
const SESSION_SETTINGS = [
  "SET DateStyle = 'ISO, MDY'",
  "SET TimeZone = 'UTC'",
  'SET IntervalStyle = postgres',
  'SET extra_float_digits = 3',
  'SET bytea_output = hex',
  // money prints per lc_monetary, which initdb takes from the machine's locale; pin it so the
  // expected "$1,234.56" does not depend on where the test runs.
  "SET lc_monetary = 'C'",
];

/**
 * Results in text format without the driver's parsers give exactly the output function's text,
 * which is what pgoutput sends in text mode. (`col::text` would not: bool::text is "true",
 * bpchar::text trims the padding and inet::text always adds the /mask.)
 */
const rawText = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

interface Column {
  type: PgType;
  notNull: boolean;
  text: string | null;
  nullText: string | null;
}

describe('type mapping against PostgreSQL', () => {
  let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
  let client: pg.Client | undefined;
  let citext = false;
  let types = new Map<number, PgType>();
  const columns = new Map<number, Column>();

  beforeAll(async () => {
    server = await startPostgres();
    client = new pg.Client({ connectionString: await server.createDatabase() });
    await client.connect();
    for (const setting of SESSION_SETTINGS) await client.query(setting);

    const created = await createTypeTable(client, 'type_mapping');
    citext = created.citext;
    // Row 1 holds the tricky values, row 2 all NULLs.
    await insertTypeRows(client, 'type_mapping', created.used);

    // Type OIDs from the catalog, as pgoutput's Relation message carries them (domains included).
    const attributes = await client.query<{ attname: string; atttypid: string; attnotnull: boolean }>(
      `SELECT attname, atttypid::int8::text AS atttypid, attnotnull FROM pg_attribute
       WHERE attrelid = 'type_mapping'::regclass AND attnum > 0 AND NOT attisdropped`,
    );
    types = await loadTypes(
      client,
      attributes.rows.map((a) => Number(a.atttypid)),
    );

    const rows = await client.query<Record<string, string | null>>({
      text: 'SELECT * FROM type_mapping ORDER BY id',
      types: rawText,
    });
    const [values, nulls] = rows.rows;
    for (const attribute of attributes.rows) {
      const match = /^c(\d+)$/.exec(attribute.attname);
      if (match === null) continue;
      const type = types.get(Number(attribute.atttypid));
      if (type === undefined) throw new Error(`loadTypes did not resolve ${attribute.attname}`);
      columns.set(Number(match[1]), {
        type,
        notNull: attribute.attnotnull,
        text: values?.[attribute.attname] ?? null,
        nullText: nulls?.[attribute.attname] ?? null,
      });
    }
  });

  afterAll(async () => {
    try {
      await client?.end();
      await server?.close();
    } finally {
      await closeAll(); // whatever a failed beforeAll left running
    }
  });

  it.for(cases.map((c, i) => [`${i}: ${c.sqlType} ${JSON.stringify(c.input)}`, c, i] as const))(
    '%s',
    ([, c, i]) => {
      // citext ships with PostgreSQL's contrib, in both servers the harness runs: required, not skipped.
      if (c.needsCitext) expect(citext, 'the citext extension is available').toBe(true);
      const col = columns.get(i);
      expect(col, 'column loaded').toBeDefined();
      if (col === undefined || col.text === null) throw new Error(`no value in ${column(i)}`);

      const fragment = mapperFor(col.type)(col.text);
      if (c.fragment !== undefined) expect(fragment).toBe(c.fragment);
      const value: unknown = JSON.parse(fragment);
      expect(value).toEqual(c.expected);
      expect(conforms(columnSchema(col.type, !col.notNull), value)).toBe(true);

      // SQL NULL arrives as no text at all, maps to null and is admitted by the nullable schema.
      expect(col.nullText).toBeNull();
      expect(mapText(col.type, col.nullText)).toBe('null');
      expect(conforms(columnSchema(col.type, true), null)).toBe(true);
    },
  );

  it('loadTypes links array elements, domain bases and composite fields', () => {
    const byName = (name: string): PgType | undefined => [...types.values()].find((t) => t.name === name);
    expect(byName('_mood')).toMatchObject({ kind: 'b', category: 'A', element: { name: 'mood', kind: 'e' } });
    expect(byName('price')).toMatchObject({ schema: 'public', kind: 'd', base: { name: 'numeric' } });
    expect(byName('_price')?.element?.base?.name).toBe('numeric');
    expect(byName('_box')?.element).toMatchObject({ name: 'box', delim: ';' });
    expect(byName('pair')?.fields?.map((f) => [f.name, f.type.schema, f.type.name])).toEqual([
      ['a', 'pg_catalog', 'int4'],
      ['b', 'pg_catalog', 'text'],
    ]);
    expect(byName('int4range')?.kind).toBe('r');
    expect(byName('timestamptz')).toMatchObject({
      oid: 1184,
      schema: 'pg_catalog',
      category: 'D',
      base: null,
    });
  });

  it('loadTypes tolerates unknown and empty OID lists', async () => {
    if (client === undefined) throw new Error('not connected');
    expect((await loadTypes(client, [])).size).toBe(0);
    expect([...(await loadTypes(client, [23, 4_000_000_000])).keys()]).toEqual([23]);
  });
});

/** Checks `type` (and `items`, `anyOf`, `pattern`), which is what the column schemas constrain. */
function conforms(schema: JsonSchema, value: unknown): boolean {
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const actual =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'array'
          : Number.isInteger(value)
            ? 'integer'
            : typeof value;
    if (!allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number'))) return false;
  }
  if (typeof value === 'string' && typeof schema.pattern === 'string') {
    if (!new RegExp(schema.pattern, 'u').test(value)) return false;
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    if (!value.every((item) => conforms(schema.items as JsonSchema, item))) return false;
  }
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).some((s) => conforms(s, value));
  return true;
}
