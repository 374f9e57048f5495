/**
 * `sluice verify` against a real PostgreSQL, nats-server and a child connector: a healthy stream
 * under light writes verifies clean; a change held in flight (connector stopped with SIGSTOP) is
 * re-checked, not reported, once the connector goes on; facts damaged on purpose (a wrong column
 * value, a purged subject, a fact without a row) are each reported, in text and JSON, with the
 * connector stopped (reported at once) and running (confirmed by the re-check).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, lastBySubject } from '../harness/index.js';
import { liveFacts, startEnv, type ChildConnector, type SluiceEnv } from './env.js';
import { waitStreaming } from './faults-helpers.js';
import { encodeKey } from '../../schemas/keys.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  done: Promise<Result>;
  stderr(): string;
}

/** Starts `sluice verify <args>` from source with the test environment's settings. */
function verify(env: SluiceEnv, args: string[], extraEnv: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', 'verify', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // A verify that does not end is a failure with its output, not a test timeout.
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<Result>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { done, stderr: () => stderr };
}

interface JsonDifference {
  kind: string;
  subject: string;
  key: Record<string, unknown>;
  columns: { column: string; table?: unknown; fact?: unknown }[];
  factVersion: string | null;
  check: string;
}

interface JsonTable {
  table: string;
  skipped: string | null;
  rowsChecked: number;
  matching: number;
  missingInFacts: number;
  missingInTable: number;
  different: number;
  factsChecked: number;
  resolvedOnRecheck: number;
  differences: JsonDifference[];
}

interface JsonReport {
  clean: boolean;
  slot: { active: boolean };
  tables: JsonTable[];
}

async function verifyJson(
  env: SluiceEnv,
  args: string[] = [],
): Promise<{ code: number | null; report: JsonReport; stderr: string }> {
  const r = await verify(env, ['--json', ...args]).done;
  let report: JsonReport;
  try {
    report = JSON.parse(r.stdout) as JsonReport;
  } catch {
    throw new Error(`verify printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

const tableOf = (report: JsonReport, name: string): JsonTable => {
  const t = report.tables.find((x) => x.table === name);
  if (!t) throw new Error(`no report for ${name}: ${JSON.stringify(report.tables.map((x) => x.table))}`);
  return t;
};

let env: SluiceEnv;
let confDir: string;
let connector: ChildConnector | null = null;

const KEYED = ['public.items', 'public.flags', 'public.pairs', 'public.blobs'];
const BIG = 'y'.repeat(40_000);

/** Rows per keyed table, counted with SQL. */
async function rowCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of KEYED)
    out[t] = (await env.sql<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n;
  return out;
}

/** Waits until every keyed table has as many live facts as rows (the connector caught up). */
async function caughtUp(): Promise<void> {
  await eventually(
    async () => {
      const want = await rowCounts();
      const live = liveFacts(await env.facts());
      for (const t of KEYED) {
        const have = [...live.values()].filter((f) => f.table === t).length;
        if (have !== want[t]) throw new Error(`${t}: ${have} live facts, ${want[t]} rows`);
      }
    },
    { timeout: 90_000, interval: 250, message: 'facts for every row' },
  );
}

/** Waits until the slot's confirmed position has passed the WAL written so far. */
async function slotPassedNow(): Promise<void> {
  const now = (await env.sql<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`)).rows[0]!.l;
  await eventually(
    async () => {
      const r = await env.sql(
        `SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'sluice'`,
        [now],
      );
      if (r.rows[0]?.ok !== true) throw new Error('slot behind');
    },
    { timeout: 60_000, interval: 100, message: `the slot to pass ${now}` },
  );
}

async function startConnector(): Promise<ChildConnector> {
  const c = env.spawnConnector({ SLUICE_SNAPSHOT_CHUNK_SIZE: '100' });
  await waitStreaming(c);
  connector = c;
  return c;
}

async function stopConnector(): Promise<void> {
  if (!connector) return;
  const c = connector;
  connector = null;
  c.child.kill('SIGTERM');
  await c.exited;
  await eventually(
    async () => {
      const r = await env.sql(`SELECT active FROM pg_replication_slots WHERE slot_name = 'sluice'`);
      if (r.rows[0]?.active !== false) throw new Error('slot still active');
    },
    { timeout: 30_000, interval: 100, message: 'the slot to turn inactive' },
  );
}

beforeAll(async () => {
  // A small max_payload, so the big row's fact is a reference event resolved from the object store.
  confDir = mkdtempSync(join(tmpdir(), 'sluice-verify-'));
  writeFileSync(join(confDir, 'nats.conf'), 'max_payload: 32768\n');
  env = await startEnv({ natsArgs: ['-c', join(confDir, 'nats.conf')] });
  // Snapshotted rows: types whose ::text equals their output function, so the test does not depend
  // on how the snapshot reads values. Streamed rows: bool, char(n), inet, bytea, arrays, a big jsonb.
  await env.sql(`
    CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), doc jsonb, at timestamptz);
    CREATE TABLE flags (id bigint PRIMARY KEY, ok bool, code char(5), ip inet, blob bytea, tags text[]);
    CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b));
    CREATE TABLE blobs (id int PRIMARY KEY, body text);
    CREATE TABLE nokey (v text);
    INSERT INTO items SELECT g, 'item ' || g, g * 1.25, jsonb_build_object('n', 123456789012345678901234::numeric, 'g', g),
                             '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
      FROM generate_series(1, 250) g;
    INSERT INTO pairs SELECT g % 10, 'b.' || g, g FROM generate_series(1, 40) g;
    INSERT INTO nokey VALUES ('a'), ('b');
  `);
  await startConnector();
  await env.sql(`
    INSERT INTO flags SELECT g, g % 2 = 0, 'c' || (g % 7), ('10.0.0.' || g)::inet, decode(lpad(to_hex(g), 4, '0'), 'hex'),
                             ARRAY['a b', NULL, 'q"' || g]
      FROM generate_series(1, 60) g;
  `);
  await env.sql(`INSERT INTO blobs VALUES (1, 'small'), (2, $1)`, [BIG]);
  await caughtUp();
});

afterAll(async () => {
  await env?.close();
  if (confDir) rmSync(confDir, { recursive: true, force: true });
});

describe('sluice verify', () => {
  it('passes on a healthy stream under light writes, every row matching', async () => {
    const counts = await rowCounts();
    // Light writes while verify runs: updates only, so the row counts stay what SQL says.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const id = 1 + (writes % 250);
        await env.sql(`UPDATE items SET price = price + 1, at = now() WHERE id = $1`, [id]);
        await env.sql(`UPDATE flags SET ok = NOT ok WHERE id = $1`, [1 + (writes % 60)]);
        writes++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let result: Awaited<ReturnType<typeof verifyJson>>;
    try {
      result = await verifyJson(env, ['--chunk-size', '50']);
    } finally {
      writing = false;
      await writer;
    }
    const { code, report, stderr } = result;
    expect(writes).toBeGreaterThan(0);
    expect(report.clean, stderr).toBe(true);
    expect(code).toBe(0);
    expect(report.slot.active).toBe(true);
    for (const t of KEYED) {
      const r = tableOf(report, t);
      expect(r.skipped).toBeNull();
      expect(r.rowsChecked).toBe(counts[t]);
      expect(r.matching).toBe(counts[t]);
      // A fact that changes while the facts are listed may be looked up twice.
      expect(r.factsChecked).toBeGreaterThanOrEqual(counts[t]!);
      expect([r.missingInFacts, r.missingInTable, r.different]).toEqual([0, 0, 0]);
    }
    // The big row's fact is a reference event: verify compared it through the object store.
    const ref = await lastBySubject(env.nc, 'CDC_FACTS', 'cdc.fact.public.blobs.2');
    expect((ref!.data as { data: { dataref?: unknown } }).data.dataref).toMatchObject({ store: 'CDC_LARGE' });
    expect(tableOf(report, 'public.nokey').skipped).toMatch(/no primary key or replica identity index/);

    // The text form says the same.
    const text = await verify(env, ['public.items', 'public.nokey']).done;
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^public\.items\s+250\s+250\s+0\s+0\s+0$/m);
    expect(text.stdout).toContain('public.nokey: skipped, no primary key or replica identity index');
    expect(text.stdout).toMatch(/facts equal the tables: 250 rows in 1 table\(s\)/);
  });

  it('re-checks a change in flight instead of reporting it, within a bounded wait', async () => {
    const c = connector!;
    await slotPassedNow();
    // The connector is frozen: its slot stays active, its confirmed position stays put.
    c.child.kill('SIGSTOP');
    let resumed = false;
    try {
      await env.sql(`UPDATE items SET name = 'in flight' WHERE id = 7`);
      // With a short wait the difference is reported, marked as a timed-out re-check.
      const short = await verifyJson(env, ['public.items', '--timeout', '1']);
      expect(short.code).toBe(1);
      const diffs = tableOf(short.report, 'public.items').differences;
      expect(diffs).toHaveLength(1);
      expect(diffs[0]).toMatchObject({
        kind: 'different',
        subject: 'cdc.fact.public.items.7',
        key: { id: 7 },
        columns: [{ column: 'name', table: 'in flight', fact: 'item 7' }],
        check: 'timeout',
      });
      // With time to wait, verify waits for the connector, which goes on once verify is waiting.
      const long = verify(env, ['--json', 'public.items', '--timeout', '60']);
      await eventually(() => /re-checking 1 difference/.test(long.stderr()), {
        timeout: 60_000,
        interval: 50,
        message: 'verify to wait for the connector',
      });
      c.child.kill('SIGCONT');
      resumed = true;
      const r = await long.done;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const items = tableOf(JSON.parse(r.stdout) as JsonReport, 'public.items');
      expect(items.resolvedOnRecheck).toBeGreaterThanOrEqual(1);
      expect(items.matching).toBe(items.rowsChecked);
    } finally {
      if (!resumed) c.child.kill('SIGCONT');
    }
  });

  it('reports damaged facts: a wrong value, a purged subject, a fact without a row', async () => {
    await stopConnector();
    const js = jetstream(env.nc);
    const jsm = await jetstreamManager(env.nc);
    // A wrong column value for an existing key.
    // Edited as text: a JSON.parse round trip would also round the big number inside \`doc\`.
    const f2 = await lastBySubject(env.nc, 'CDC_FACTS', 'cdc.fact.public.items.2');
    const damaged = new TextDecoder().decode(f2!.raw).replace('"name":"item 2"', '"name":"damaged"');
    expect(damaged).toContain('"name":"damaged"');
    await js.publish('cdc.fact.public.items.2', damaged);
    // A big integer inside jsonb off by one in its last digit: equal once parsed into a JavaScript
    // number, different as the JSON text the contract promises.
    const f5 = await lastBySubject(env.nc, 'CDC_FACTS', 'cdc.fact.public.items.5');
    const off = new TextDecoder()
      .decode(f5!.raw)
      .replace('123456789012345678901234', '123456789012345678901235');
    expect(off).toContain('123456789012345678901235');
    await js.publish('cdc.fact.public.items.5', off);
    // A purged subject: the row has no fact.
    await jsm.streams.purge('CDC_FACTS', { filter: 'cdc.fact.public.items.3' });
    // A fact for a key that has no row, on a composite-key table.
    const pairSubject = `cdc.fact.public.pairs.${encodeKey([77, 'no.such'])}`;
    const fp = (await lastBySubject(env.nc, 'CDC_FACTS', `cdc.fact.public.pairs.${encodeKey([1, 'b.1'])}`))!
      .data as { data: { key: Record<string, unknown>; row: Record<string, unknown> } };
    fp.data.key = { a: 77, b: 'no.such' };
    fp.data.row = { a: 77, b: 'no.such', v: 1 };
    await js.publish(pairSubject, JSON.stringify(fp));

    const expectDamage = (report: JsonReport, check: string) => {
      expect(report.clean).toBe(false);
      const items = tableOf(report, 'public.items');
      expect([items.missingInFacts, items.missingInTable, items.different]).toEqual([1, 0, 2]);
      expect(items.matching).toBe(items.rowsChecked - 3);
      expect(items.differences).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            kind: 'different',
            subject: 'cdc.fact.public.items.2',
            key: { id: 2 },
            columns: [{ column: 'name', table: 'item 2', fact: 'damaged' }],
            check,
          }),
          expect.objectContaining({
            kind: 'different',
            subject: 'cdc.fact.public.items.5',
            columns: [expect.objectContaining({ column: 'doc' })],
            check,
          }),
          expect.objectContaining({
            kind: 'missing-in-facts',
            subject: 'cdc.fact.public.items.3',
            key: { id: 3 },
            factVersion: null,
            check,
          }),
        ]),
      );
      const pairs = tableOf(report, 'public.pairs');
      expect([pairs.missingInFacts, pairs.missingInTable, pairs.different]).toEqual([0, 1, 0]);
      expect(pairs.differences).toEqual([
        expect.objectContaining({
          kind: 'missing-in-table',
          subject: pairSubject,
          key: { a: 77, b: 'no.such' },
          check,
        }),
      ]);
      for (const t of ['public.flags', 'public.blobs']) {
        const r = tableOf(report, t);
        expect(r.matching).toBe(r.rowsChecked);
        expect(r.differences).toEqual([]);
      }
    };

    // No connector streams: reported at once.
    const stopped = await verifyJson(env);
    expect(stopped.code).toBe(1);
    expect(stopped.report.slot.active).toBe(false);
    expectDamage(stopped.report, 'not-streaming');
    // Both values exactly as JSON text, not rounded.
    expect(await verify(env, ['--json', 'public.items']).done.then((r) => r.stdout)).toMatch(
      /"column": "doc",\s+"table": \{"g": 5, "n": 123456789012345678901234\},\s+"fact": \{"g": 5, "n": 123456789012345678901235\}/,
    );

    const text = await verify(env, []).done;
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('public.items: different: id=2 (cdc.fact.public.items.2, fact version ');
    expect(text.stdout).toContain('    name: table "item 2", fact "damaged"');
    expect(text.stdout).toContain(
      'public.items: missing in facts: id=3 (cdc.fact.public.items.3) (reported at once',
    );
    expect(text.stdout).toContain(
      `public.pairs: missing in table: a=77, b="no.such" (${pairSubject}, fact version `,
    );
    expect(text.stdout).toMatch(/^public\.items\s+250\s+247\s+1\s+0\s+2$/m);
    expect(text.stdout).toMatch(/4 difference\(s\) in 2 of 4 table\(s\)/);
    // --limit bounds the differences shown, not the counts.
    const limited = await verify(env, ['public.items', '--limit', '1']).done;
    expect(limited.stdout.match(/^public\.items: (different|missing in facts): /gm)).toHaveLength(1);
    expect(limited.stdout).toContain('public.items: 2 more difference(s) not shown (--limit)');

    // With the connector streaming again, the re-check confirms each one.
    await startConnector();
    const running = await verifyJson(env, ['--timeout', '60']);
    expect(running.code).toBe(1);
    expect(running.report.slot.active).toBe(true);
    expectDamage(running.report, 'confirmed');
  });

  it('explains a table that does not exist, a missing facts stream and bad options, with exit code 2', async () => {
    const missing = await verify(env, ['public.nope']).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^sluice: table public\.nope does not exist \(or is a partition\)\. /);
    const noStream = await verify(env, [], { SLUICE_PREFIX: 'elsewhere' }).done;
    expect(noStream.code).toBe(2);
    expect(noStream.stderr).toMatch(
      /^sluice: the facts stream ELSEWHERE_FACTS does not exist: no connector has run with prefix "elsewhere" on this NATS\. Start "sluice run" first/,
    );
    const bad = await verify(env, ['--timeout', 'soon']).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^sluice: --timeout: expected a number, got "soon"\./);
  });
});
