/**
 * The type matrix: one case per PostgreSQL type and tricky value, with the JSON the lossless
 * mapping must produce. Shared by the mapping test (mapper against the server's output functions)
 * and the connector test (the same values through pgoutput, the connector and JetStream).
 */

export interface Case {
  /** Column type as written in CREATE TABLE. */
  sqlType: string;
  /** Input text of the inserted value (a bind parameter, cast to the column type). */
  input: string;
  /** JSON.parse of the mapped fragment. */
  expected: unknown;
  /** Exact fragment, where JSON.parse would hide a difference (big integers, -0). */
  fragment?: string;
  /** Only when the citext extension is installable on this server. */
  needsCitext?: boolean;
}

export const cases: Case[] = [
  { sqlType: 'bool', input: 't', expected: true },
  { sqlType: 'bool', input: 'false', expected: false },
  { sqlType: 'int2', input: '-32768', expected: -32768 },
  { sqlType: 'int4', input: '2147483647', expected: 2147483647 },
  { sqlType: 'int8', input: '9007199254740993', expected: '9007199254740993' },
  { sqlType: 'oid', input: '4294967295', expected: 4294967295 },
  { sqlType: 'float4', input: 'NaN', expected: 'NaN' },
  { sqlType: 'float4', input: '3.4028235e38', expected: 3.4028235e38 },
  { sqlType: 'float8', input: 'Infinity', expected: 'Infinity' },
  { sqlType: 'float8', input: '-Infinity', expected: '-Infinity' },
  { sqlType: 'float8', input: '-0', expected: -0, fragment: '-0' },
  { sqlType: 'float8', input: '1e308', expected: 1e308 },
  { sqlType: 'float8', input: '0.1', expected: 0.1 },
  {
    sqlType: 'numeric',
    input: '123456789012345678901234567890.123456789',
    expected: '123456789012345678901234567890.123456789',
  },
  { sqlType: 'numeric', input: 'NaN', expected: 'NaN' },
  { sqlType: 'numeric', input: 'Infinity', expected: 'Infinity' },
  { sqlType: 'numeric(10,3)', input: '-1.5', expected: '-1.500' },
  { sqlType: 'money', input: '1234.56', expected: '$1,234.56' },
  { sqlType: 'text', input: '😀 a\u0001b\tc\n"q" \\ NULL', expected: '😀 a\u0001b\tc\n"q" \\ NULL' },
  { sqlType: 'varchar(10)', input: 'héllo', expected: 'héllo' },
  { sqlType: 'char(5)', input: 'ab', expected: 'ab   ' },
  { sqlType: 'name', input: 'pg_class', expected: 'pg_class' },
  { sqlType: 'citext', input: 'MiXeD', expected: 'MiXeD', needsCitext: true },
  {
    sqlType: 'json',
    input: '{"n": 12345678901234567890, "s": "😀"}',
    expected: { n: 12345678901234567000, s: '😀' },
    fragment: '{"n": 12345678901234567890, "s": "😀"}',
  },
  {
    sqlType: 'jsonb',
    input: '{"n": 12345678901234567890, "a": {"b": [1, 2.5, null, "x"]}}',
    expected: { a: { b: [1, 2.5, null, 'x'] }, n: 12345678901234567000 },
    // jsonb stores a canonical form (keys ordered by length, then bytes) with the number's digits.
    fragment: '{"a": {"b": [1, 2.5, null, "x"]}, "n": 12345678901234567890}',
  },
  { sqlType: 'jsonb', input: 'null', expected: null },
  { sqlType: 'bytea', input: '\\x', expected: '' },
  { sqlType: 'bytea', input: '\\x0102ff', expected: 'AQL/' },
  {
    sqlType: 'timestamptz',
    input: '2024-01-02 03:04:05.123456+00',
    expected: '2024-01-02T03:04:05.123456Z',
  },
  { sqlType: 'timestamptz', input: '2024-01-02 04:04:05+01', expected: '2024-01-02T03:04:05.000000Z' },
  { sqlType: 'timestamptz', input: 'infinity', expected: 'infinity' },
  { sqlType: 'timestamptz', input: '0044-03-15 12:00:00+00 BC', expected: '0044-03-15 12:00:00+00 BC' },
  { sqlType: 'timestamptz', input: '10000-01-01 00:00:00+00', expected: '10000-01-01 00:00:00+00' },
  { sqlType: 'timestamp', input: '2024-01-02 03:04:05.5', expected: '2024-01-02T03:04:05.500000' },
  { sqlType: 'timestamp', input: '-infinity', expected: '-infinity' },
  { sqlType: 'date', input: '2024-01-02', expected: '2024-01-02' },
  { sqlType: 'date', input: 'infinity', expected: 'infinity' },
  { sqlType: 'date', input: '0044-03-15 BC', expected: '0044-03-15 BC' },
  { sqlType: 'time', input: '03:04:05.123', expected: '03:04:05.123' },
  { sqlType: 'timetz', input: '03:04:05.5+05:30', expected: '03:04:05.5+05:30' },
  {
    sqlType: 'interval',
    input: '1 year 2 months -3 days 04:05:06.789',
    expected: '1 year 2 mons -3 days +04:05:06.789',
  },
  {
    sqlType: 'uuid',
    input: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  { sqlType: 'inet', input: '192.168.0.1/24', expected: '192.168.0.1/24' },
  { sqlType: 'inet', input: '10.0.0.1/32', expected: '10.0.0.1' },
  { sqlType: 'cidr', input: '10.0.0.0/8', expected: '10.0.0.0/8' },
  { sqlType: 'macaddr', input: '08-00-2B-01-02-03', expected: '08:00:2b:01:02:03' },
  { sqlType: 'macaddr8', input: '08:00:2b:01:02:03:04:05', expected: '08:00:2b:01:02:03:04:05' },
  { sqlType: 'bit(4)', input: '1010', expected: '1010' },
  { sqlType: 'varbit', input: '101', expected: '101' },
  { sqlType: 'tsvector', input: "a fat cat it's", expected: "'a' 'cat' 'fat' 'it''s'" },
  { sqlType: 'xml', input: '<a href="x">ü &amp; 😀</a>', expected: '<a href="x">ü &amp; 😀</a>' },
  { sqlType: 'int4range', input: '[1,10]', expected: '[1,11)' },
  { sqlType: 'int4range', input: '(1,1)', expected: 'empty' },
  { sqlType: 'numrange', input: '(1.5,2.5]', expected: '(1.5,2.5]' },
  {
    sqlType: 'tstzrange',
    input: '[2024-01-01,2024-01-02)',
    expected: '["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")',
  },
  { sqlType: 'int4multirange', input: '{[1,3),[5,7)}', expected: '{[1,3),[5,7)}' },
  { sqlType: 'point', input: '(1,2)', expected: '(1,2)' },
  { sqlType: 'line', input: '{1,2,3}', expected: '{1,2,3}' },
  { sqlType: 'lseg', input: '[(0,0),(1,1)]', expected: '[(0,0),(1,1)]' },
  { sqlType: 'box', input: '((0,0),(1,1))', expected: '(1,1),(0,0)' },
  { sqlType: 'path', input: '[(0,0),(1,1)]', expected: '[(0,0),(1,1)]' },
  { sqlType: 'polygon', input: '((0,0),(1,1),(2,0))', expected: '((0,0),(1,1),(2,0))' },
  { sqlType: 'circle', input: '<(0,0),1.5>', expected: '<(0,0),1.5>' },
  { sqlType: 'mood', input: 'happy', expected: 'happy' },
  { sqlType: 'mood', input: 'so "sad"', expected: 'so "sad"' },
  { sqlType: 'price', input: '12.5', expected: '12.50' },
  { sqlType: 'pair', input: '(1,"a b")', expected: '(1,"a b")' },
  { sqlType: 'pair', input: '(,)', expected: '(,)' },
  {
    sqlType: 'int4[][]',
    input: '{{1,2},{3,NULL}}',
    expected: [
      [1, 2],
      [3, null],
    ],
  },
  { sqlType: 'int4[]', input: '[0:1]={1,2}', expected: [1, 2] },
  { sqlType: 'int4[]', input: '{}', expected: [] },
  {
    sqlType: 'text[]',
    input: String.raw`{"a,b","c\"d","e\\f","{g}","NULL",NULL,""," sp",😀}`,
    expected: ['a,b', 'c"d', 'e\\f', '{g}', 'NULL', null, '', ' sp', '😀'],
  },
  { sqlType: 'int8[]', input: '{9007199254740993,-1}', expected: ['9007199254740993', '-1'] },
  {
    sqlType: 'jsonb[]',
    input: String.raw`{"{\"b\": 12345678901234567890}","null",NULL}`,
    expected: [{ b: 12345678901234567000 }, null, null],
    fragment: '[{"b": 12345678901234567890},null,null]',
  },
  {
    sqlType: 'mood[]',
    input: String.raw`{happy,"so \"sad\"","ok, fine",NULL}`,
    expected: ['happy', 'so "sad"', 'ok, fine', null],
  },
  { sqlType: 'box[]', input: '{(1,1),(0,0);(2,2),(1,1)}', expected: ['(1,1),(0,0)', '(2,2),(1,1)'] },
  { sqlType: 'float8[]', input: '{NaN,Infinity,-0,1.5}', expected: ['NaN', 'Infinity', -0, 1.5] },
  { sqlType: 'numeric[]', input: '{1.10,NaN}', expected: ['1.10', 'NaN'] },
  {
    sqlType: 'timestamptz[]',
    input: '{"2024-01-02 03:04:05.5+00",-infinity}',
    expected: ['2024-01-02T03:04:05.500000Z', '-infinity'],
  },
  { sqlType: 'bytea[]', input: String.raw`{"\\x0102ff","\\x"}`, expected: ['AQL/', ''] },
  {
    sqlType: 'pair[]',
    input: String.raw`{"(1,x)","(2,\"y z\")",NULL}`,
    expected: ['(1,x)', '(2,"y z")', null],
  },
  { sqlType: 'price[]', input: '{1,NULL}', expected: ['1.00', null] },
  { sqlType: 'citext[]', input: '{A,"b c"}', expected: ['A', 'b c'], needsCitext: true },
];

/** The one query method the helpers need (a pg.Client or a test environment). */
export interface SqlClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Column name of case i. */
export const column = (i: number): string => `c${i}`;

/**
 * Creates the types the cases use (enum, domain, composite, citext when available) and a table
 * `name` with one column per case; returns the cases used (citext ones only when available).
 */
export async function createTypeTable(
  client: SqlClient,
  name: string,
  opts: { createTypes?: boolean } = {},
): Promise<{ used: { c: Case; i: number }[]; citext: boolean }> {
  const available = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'citext'");
  const citext = available.rows.length > 0;
  if (opts.createTypes !== false) {
    if (citext) await client.query('CREATE EXTENSION IF NOT EXISTS citext');
    await client.query(`CREATE TYPE mood AS ENUM ('happy', 'so "sad"', 'ok, fine')`);
    await client.query('CREATE DOMAIN price AS numeric(12,2) CHECK (VALUE >= 0)');
    await client.query('CREATE TYPE pair AS (a int4, b text)');
  }
  const used = cases.map((c, i) => ({ c, i })).filter(({ c }) => citext || !c.needsCitext);
  await client.query(
    `CREATE TABLE ${name} (id int4 PRIMARY KEY, ${used.map(({ c, i }) => `${column(i)} ${c.sqlType}`).join(', ')})`,
  );
  return { used, citext };
}

/** Inserts row 1 with every case's value and row 2 with NULLs. */
export async function insertTypeRows(
  client: SqlClient,
  name: string,
  used: { c: Case; i: number }[],
): Promise<void> {
  await client.query(
    `INSERT INTO ${name} (id, ${used.map(({ i }) => column(i)).join(', ')})
     VALUES (1, ${used.map(({ c }, k) => `$${k + 1}::${c.sqlType}`).join(', ')}), (2, ${used.map(() => 'NULL').join(', ')})`,
    used.map(({ c }) => c.input),
  );
}
