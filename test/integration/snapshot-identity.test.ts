/**
 * One row state, one JSON form: for every case of the type matrix, the fact a snapshot publishes
 * and the fact streaming publishes for the same row state have byte-for-byte the same `key` and
 * `row` (and the same subject). Both directions: rows there before Sluice (snapshotted, then
 * streamed by a no-op update) and rows streamed first (then re-snapshotted on request). Also a
 * composite key of types whose `::text` differs from their output (bool, char(n), inet, float8)
 * paged through in small chunks, and an unchanged TOAST value of a row Sluice never saw, which is
 * read from the database. Runs on PostgreSQL 15 and 17 (SLUICE_TEST_PG).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { eventually, type StreamMessage } from '../harness/index.js';
import { startEnv, type RunningConnector, type SluiceEnv } from './env.js';
import { column, createTypeTable, insertTypeRows, type Case, type SqlClient } from './type-cases.js';
import { requestSnapshot, snapshotBucketName } from '../../connector/sink/snapshot-store.js';
import { readRawRows } from '../../connector/source/row-reader.js';
import { connectSql } from '../../connector/source/sql-connection.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';

let env: SluiceEnv;
let used: { c: Case; i: number }[];
let connector: RunningConnector;
const client: SqlClient = { query: (q: string, p?: unknown[]) => env.sql(q, p) };

/** Key rows whose key columns print differently through `::text` (t/true, padding, /32). */
const KEYED_ROWS = `VALUES
  (true, 'ab', '10.0.0.1', 0.1, 1, 'one'), (true, 'ab', '10.0.0.1', 0.1, 2, 'two'),
  (true, 'ab', '10.0.0.1/24', 1e-7, 1, 'three'), (true, 'b', '::1', 'NaN', 1, 'four'),
  (false, 'ab', '10.0.0.1', 0.1, 1, 'five'), (false, ' a', '192.168.1.1', '-Infinity', 1, 'six'),
  (false, 'ab   ', '10.0.0.2', -0.0, 1, 'seven'), (false, 'zz', '2001:db8::1/128', 1.5, 9, 'eight')`;
const KEYED_COUNT = 8;
const BIG = 3000;

beforeAll(async () => {
  env = await startEnv();
  // Rows there before the connector starts: snapshotted on request, later streamed.
  ({ used } = await createTypeTable(client, 'snap_first'));
  await insertTypeRows(client, 'snap_first', used);
  await env.sql(`CREATE TABLE keyed (b bool, c char(5), n inet, r float8, id int4, v text,
                   PRIMARY KEY (b, c, n, r, id));
                 INSERT INTO keyed ${KEYED_ROWS};`);
  // big is stored out of line: an update of note alone sends it as "unchanged TOAST".
  await env.sql(`CREATE TABLE toasted (id int4 PRIMARY KEY, big char(${BIG}), note text);
                 ALTER TABLE toasted ALTER COLUMN big SET STORAGE EXTERNAL;
                 INSERT INTO toasted VALUES (1, 'ab', 'before');`);
  // Rows streamed first, then re-snapshotted.
  await createTypeTable(client, 'stream_first', { createTypes: false });
  // No initial snapshot: the toasted row stays unseen; the other tables are snapshotted on request.
  // Chunks of 3 rows page through the keyed table by its raw key text.
  connector = env.startConnector({ SLUICE_SNAPSHOT: 'never', SLUICE_SNAPSHOT_CHUNK_SIZE: '3' });
  await eventually(
    () => connector.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    { timeout: 60_000, message: 'the connector to stream' },
  );
});

afterAll(async () => {
  await env?.close();
});

/** One fact as published: its op and the raw JSON text of `data.key` and `data.row`. */
interface RawFact {
  op: string;
  key: string;
  row: string;
}

/** The latest fact of every subject of `table`. */
async function factsOf(table: string): Promise<Map<string, RawFact>> {
  const out = new Map<string, RawFact>();
  const prefix = `cdc.fact.public.${table}.`;
  for (const m of await env.facts()) if (m.subject.startsWith(prefix)) out.set(m.subject, rawFact(m));
  return out;
}

/**
 * Waits until `table` has `n` facts published by `op`, then expects exactly `n` facts (a second
 * form of a key would show up as extra subjects).
 */
async function waitFacts(table: string, n: number, op: string): Promise<Map<string, RawFact>> {
  const facts = await eventually(
    async () => {
      const f = await factsOf(table);
      const ops = [...f.values()].map((x) => x.op);
      if (ops.filter((o) => o === op).length < n) throw new Error(`${table}: ${ops.join(',')}`);
      return f;
    },
    { timeout: 60_000, interval: 250, message: `${n} ${op} facts of ${table}` },
  );
  expect([...facts.keys()], `subjects of ${table}`).toHaveLength(n);
  return facts;
}

async function snapshot(tables: string[]): Promise<void> {
  await requestSnapshot(await new Kvm(env.nc).open(snapshotBucketName('cdc')), tables);
}

/** `UPDATE t SET c = c` for every column: a streamed change to the same row state. */
async function noOpUpdate(table: string): Promise<void> {
  const { rows } = await env.sql<{ a: string }>(
    `SELECT quote_ident(attname) AS a FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [table],
  );
  await env.sql(`UPDATE ${table} SET ${rows.map((r) => `${r.a} = ${r.a}`).join(', ')}`);
}

/** Snapshot and streamed facts of the same rows: same subjects, byte-identical key and row. */
function expectSameFacts(a: Map<string, RawFact>, b: Map<string, RawFact>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [subject, fa] of a) {
    const fb = b.get(subject)!;
    expect(fa.key, `key of ${subject}`).toBe(fb.key);
    // Column by column first, for a readable failure; then the whole row, byte for byte.
    const ca = columnTexts(fa.row);
    const cb = columnTexts(fb.row);
    for (const name of new Set([...ca.keys(), ...cb.keys()])) {
      expect(ca.get(name), `${subject} ${name}: ${caseOf(name)}`).toBe(cb.get(name));
    }
    expect(fa.row, `row of ${subject}`).toBe(fb.row);
  }
}

/** The type case a column holds, for failure messages. */
function caseOf(name: string): string {
  const hit = used.find(({ i }) => column(i) === name);
  return hit ? `${hit.c.sqlType} ${JSON.stringify(hit.c.input)}` : name;
}

/** Streamed row 1 of a type table holds every case's expected value (the truth, independently). */
function expectMatrixValues(row: string): void {
  const values = JSON.parse(row) as Record<string, unknown>;
  const texts = columnTexts(row);
  for (const { c, i } of used) {
    expect(values[column(i)], caseOf(column(i))).toEqual(c.expected);
    if (c.fragment !== undefined) expect(texts.get(column(i)), caseOf(column(i))).toBe(c.fragment);
  }
}

describe('snapshot and streaming give one JSON form per row state', () => {
  it('rows there before Sluice: snapshot facts equal the facts of a no-op update', async () => {
    await snapshot(['public.snap_first', 'public.keyed']);
    const snapped = await waitFacts('snap_first', 2, 'snapshot');
    const keyedSnapped = await waitFacts('keyed', KEYED_COUNT, 'snapshot');

    await noOpUpdate('snap_first');
    await noOpUpdate('keyed');
    const streamed = await waitFacts('snap_first', 2, 'update');
    const keyedStreamed = await waitFacts('keyed', KEYED_COUNT, 'update');

    expectMatrixValues(streamed.get('cdc.fact.public.snap_first.1')!.row);
    expectSameFacts(snapped, streamed);
    expectSameFacts(keyedSnapped, keyedStreamed);
    // Every key row became its own fact (keyset pagination by the raw key text lost none).
    const keys = [...keyedStreamed.values()].map((f) => JSON.parse(f.key) as Record<string, unknown>);
    expect(keys.map((k) => k.c).sort()).toEqual([
      ' a   ',
      'ab   ',
      'ab   ',
      'ab   ',
      'ab   ',
      'ab   ',
      'b    ',
      'zz   ',
    ]);
    expect(keys.filter((k) => k.b === true)).toHaveLength(4);
  });

  it('rows streamed first: a re-snapshot publishes the same facts', async () => {
    await insertTypeRows(client, 'stream_first', used);
    const streamed = await waitFacts('stream_first', 2, 'insert');
    expectMatrixValues(streamed.get('cdc.fact.public.stream_first.1')!.row);

    await snapshot(['public.stream_first']);
    const snapped = await waitFacts('stream_first', 2, 'snapshot');
    expectSameFacts(snapped, streamed);
  });

  it('an unchanged TOAST value of a row never seen is read in the same form as streamed', async () => {
    // Row 2 is streamed in full; row 1 was never seen, so its unchanged big is read from the table.
    await env.sql(`INSERT INTO toasted VALUES (2, 'ab', 'before')`);
    await env.sql(`UPDATE toasted SET note = 'after'`);
    const facts = await waitFacts('toasted', 2, 'update');
    const unseen = facts.get('cdc.fact.public.toasted.1')!.row;
    const seen = facts.get('cdc.fact.public.toasted.2')!.row;
    expect(JSON.parse(unseen)).toEqual({ id: 1, big: 'ab'.padEnd(BIG), note: 'after' });
    expect(unseen.replace('"id":1,', '"id":2,')).toBe(seen);
  });
});

describe('readRawRows', () => {
  it("reads the output functions' text, and refuses a session without the replication settings", async () => {
    const good = await connectSql(env.dbUrl, 'sluice-test');
    const plain = new pg.Client({ connectionString: env.dbUrl, options: '-c DateStyle=SQL,DMY' });
    await plain.connect();
    try {
      const sql = `SELECT true, 'ab'::char(5), '10.0.0.1'::inet, NULL::int4, '2024-01-02 03:04:05+00'::timestamptz`;
      expect(await readRawRows(good, sql)).toEqual([
        ['t', 'ab   ', '10.0.0.1', null, '2024-01-02 03:04:05+00'],
      ]);
      const err = await readRawRows(plain, sql).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SluiceError);
      expect((err as SluiceError).code).toBe(ErrorCodes.sessionSettings);
      expect((err as SluiceError).message).toMatch(
        /DateStyle = SQL, DMY, but rows must be read with DateStyle = ISO,MDY/,
      );
    } finally {
      await good.end();
      await plain.end();
    }
  });
});

/** Raw JSON text of `data.key` and `data.row` of a fact message, and `data.op`. */
function rawFact(m: StreamMessage): RawFact {
  const text = new TextDecoder().decode(m.raw);
  const data = members(text, 0).get('data');
  if (data === undefined) throw new Error(`no data in ${m.subject}`);
  const d = members(text, data[0]);
  const get = (name: string): string => {
    const at = d.get(name);
    if (at === undefined) throw new Error(`no data.${name} in ${m.subject}`);
    return text.slice(at[0], at[1]);
  };
  return { op: JSON.parse(get('op')) as string, key: get('key'), row: get('row') };
}

/** Raw JSON text of each member of a row object. */
function columnTexts(row: string): Map<string, string> {
  return new Map([...members(row, 0)].map(([name, [a, b]]) => [name, row.slice(a, b)]));
}

/** Members of the JSON object starting at `start`: name → [start, end) of the value's raw text. */
function members(text: string, start: number): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let i = skipSpace(text, start);
  if (text[i] !== '{') throw new Error(`expected an object at ${i}`);
  i = skipSpace(text, i + 1);
  while (text[i] !== '}') {
    const nameEnd = skipValue(text, i);
    const name = JSON.parse(text.slice(i, nameEnd)) as string;
    i = skipSpace(text, nameEnd);
    if (text[i] !== ':') throw new Error(`expected ':' at ${i}`);
    const valueStart = skipSpace(text, i + 1);
    const valueEnd = skipValue(text, valueStart);
    out.set(name, [valueStart, valueEnd]);
    i = skipSpace(text, valueEnd);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return out;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i]!)) i++;
  return i;
}

/** End of the JSON value starting at `i`. */
function skipValue(text: string, i: number): number {
  const ch = text[i];
  if (ch === '"') {
    for (let j = i + 1; j < text.length; j++) {
      if (text[j] === '\\') j++;
      else if (text[j] === '"') return j + 1;
    }
    throw new Error('unterminated string');
  }
  if (ch === '{' || ch === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = skipValue(text, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Error('unterminated object or array');
  }
  let j = i;
  while (j < text.length && !/[\s,}\]]/.test(text[j]!)) j++;
  return j;
}
