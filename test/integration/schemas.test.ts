/**
 * Versioned event schemas against real servers: DDL mid-stream under light writes — ADD COLUMN
 * with and without a default, DROP COLUMN, RENAME COLUMN, ALTER COLUMN TYPE, a new table, a
 * renamed table, a dropped table. Checks that schemaVersion changes exactly at the DDL's position
 * (by commit LSN, taken inside each DDL transaction), that the schema events sit in commit order
 * right before the first event of their version, that every event validates against the schema of
 * its own version (fetched by its dataschema, and with the generated module compiled under
 * `tsc --strict`), that `sluice schemas diff` classifies each change, that the export writes every
 * version, and that upcasters let one handler for the latest version process every event.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type StreamMessage } from '../harness/index.js';
import { startEnv, waitForDeltas, type SluiceEnv } from './env.js';
import { checkStreams } from './faults-helpers.js';
import { SchemaRegistryReader, schemaBucketName, type StoredSchemaVersion } from '../../schemas/registry.js';
import { rowZod } from '../../schemas/json-schema-to-zod.js';
import { SchemaEvent } from '../../schemas/events.js';
import { parseLsn } from '../../schemas/versions.js';
import { defineUpcasters, upcast, type UpcastableEvent } from '../../schemas/upcasters.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(cmd: string, args: string[], env: Record<string, string>, cwd = ROOT) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}
const sluice = (args: string[], env: Record<string, string>) =>
  run(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', ...args], env);

interface Ev {
  type: string;
  dataschema?: string;
  data: {
    table: string;
    schemaVersion: number;
    version: string;
    tx: { lsn: string } | null;
    op?: string;
    row?: Record<string, unknown> | null;
    key?: Record<string, unknown> | null;
    changes?: Record<string, { old?: unknown; new?: unknown }>;
  };
}
const ev = (m: StreamMessage) => m.data as Ev;

let env: SluiceEnv;
let ddl: pg.Client;
let tmp: string;

beforeAll(async () => {
  env = await startEnv();
  await env.sql(`
    CREATE TABLE orders (id serial PRIMARY KEY, note text DEFAULT 'n', amount int DEFAULT 7);
    CREATE TABLE other (id serial PRIMARY KEY, v text);
    CREATE TABLE scratch (id int PRIMARY KEY);
  `);
  ddl = new pg.Client({ connectionString: env.dbUrl });
  await ddl.connect();
  tmp = await mkdtemp(join(tmpdir(), 'sluice-schemas-'));
});

afterAll(async () => {
  await ddl?.end().catch(() => undefined);
  await env?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs DDL in a transaction; returns an LSN inside it, after the DDL (below its commit, above every commit before it on that table). */
async function alter(sql: string): Promise<bigint> {
  await ddl.query('BEGIN');
  await ddl.query(sql);
  const r = await ddl.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l');
  await ddl.query('COMMIT');
  return parseLsn(r.rows[0]!.l);
}

describe('versioned schemas', () => {
  it('records each DDL at its exact position, validates every event by its version, diffs, exports, generates code and upcasts', async () => {
    // A deltas stream made by a Sluice from before schema events: the connector adds their subject.
    const jsm = await jetstreamManager(env.nc);
    await jsm.streams.add({ name: 'CDC_DELTAS', subjects: ['cdc.delta.>', 'cdc.tx.>'], allow_direct: true });
    const c = env.startConnector({ SLUICE_TABLE_REFRESH_SEC: '1' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    expect((await jsm.streams.info('CDC_DELTAS')).config.subjects).toEqual([
      'cdc.delta.>',
      'cdc.tx.>',
      'cdc.schema.>',
      'cdc.heartbeat',
    ]);
    await env.sql(`INSERT INTO scratch VALUES (1)`);

    // Light writes at an application's pace: one order and one other row per transaction, and
    // now and then a delete of an old order; they work under every shape of the table.
    const writer = new pg.Client({ connectionString: env.dbUrl });
    await writer.connect();
    let committed = 0;
    let lastOrder = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop) {
        await writer.query('BEGIN');
        const r = await writer.query<{ id: number }>('INSERT INTO orders DEFAULT VALUES RETURNING id');
        await writer.query(`INSERT INTO other (v) VALUES ('x')`);
        if (r.rows[0]!.id % 5 === 0)
          await writer.query('DELETE FROM orders WHERE id = $1', [r.rows[0]!.id - 3]);
        await writer.query('COMMIT');
        lastOrder = r.rows[0]!.id;
        committed++;
        await new Promise((res) => setTimeout(res, 15));
      }
    })();
    const writesAfter = async (n: number) => {
      const target = committed + n;
      await eventually(() => committed >= target || Promise.reject(new Error(`writer at ${committed}`)), {
        timeout: 30_000,
      });
    };

    await writesAfter(5);
    const ddlAt: bigint[] = [];
    ddlAt.push(await alter(`ALTER TABLE orders ADD COLUMN extra text`)); // v2
    await writesAfter(5);
    ddlAt.push(await alter(`ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'`)); // v3
    await writesAfter(5);
    ddlAt.push(await alter(`ALTER TABLE orders DROP COLUMN note`)); // v4
    await writesAfter(5);
    ddlAt.push(await alter(`ALTER TABLE orders RENAME COLUMN extra TO remark`)); // v5
    await writesAfter(5);
    ddlAt.push(await alter(`ALTER TABLE orders ALTER COLUMN amount TYPE bigint`)); // v6
    await writesAfter(5);

    // A new table: it joins the publication, is snapshotted, then streams.
    await env.sql(`CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'a')`);
    await eventually(
      async () =>
        (await env.facts()).some((m) => m.subject === 'cdc.fact.public.items.1') ||
        Promise.reject(new Error('items not snapshotted yet')),
      { timeout: 60_000 },
    );
    await env.sql(`INSERT INTO items VALUES (2, 'b')`);
    await waitForDeltas(env, 1, 'cdc.delta.public.items.insert.2');
    // A renamed table, and a dropped one.
    await env.sql(`ALTER TABLE items RENAME TO line_items`);
    await env.sql(`INSERT INTO line_items VALUES (3, 'c')`);
    await env.sql(`DROP TABLE scratch`);
    await waitForDeltas(env, 1, 'cdc.delta.public.line_items.insert.3');
    await writesAfter(3);
    stop = true;
    await writing;
    await writer.end();
    await waitForDeltas(env, 1, `cdc.delta.public.orders.insert.${lastOrder}`);

    // The stream-level guarantees hold with schema events in the stream.
    const { deltas, facts, schemaEvents } = await checkStreams(env);
    const schemaMsgs = deltas.filter((m) => m.subject.startsWith('cdc.schema.'));
    expect(schemaEvents).toBe(schemaMsgs.length);
    const schemaData = schemaMsgs.map((m) => SchemaEvent.parse(m.data).data);

    // Orders: versions 1…6, each change classified.
    const orders = schemaData.filter((d) => d.table === 'public.orders');
    expect(orders.map((d) => [d.schemaVersion, d.previousVersion, d.change])).toEqual([
      [1, null, 'create'],
      [2, 1, 'alter'],
      [3, 2, 'alter'],
      [4, 3, 'alter'],
      [5, 4, 'alter'],
      [6, 5, 'alter'],
    ]);
    expect(orders.slice(1).map((d) => d.changes.map((x) => [x.kind, x.column, x.breaking]))).toEqual([
      [['added', 'extra', false]],
      [['added', 'status', false]],
      [['dropped', 'note', true]],
      [['renamed', 'remark', true]],
      [['retyped', 'amount', true]],
    ]);
    // New and renamed tables.
    expect(
      schemaData.filter((d) => d.table !== 'public.orders').map((d) => [d.table, d.schemaVersion, d.change]),
    ).toEqual([
      ['public.scratch', 1, 'create'],
      ['public.other', 1, 'create'],
      ['public.items', 1, 'create'],
      ['public.line_items', 1, 'rename'],
    ]);
    expect(schemaData.find((d) => d.table === 'public.line_items')?.renamedFrom).toBe('public.items');

    // schemaVersion changes exactly at each DDL's position: every orders event committed before
    // DDL i (LSN below the one taken inside it) has a version ≤ i, every one after ≥ i + 1.
    const orderEvents = [...deltas, ...facts]
      .map(ev)
      .filter(
        (e) => e.data.table === 'public.orders' && e.type !== 'io.sluice.schema' && e.data.op !== 'snapshot',
      );
    expect(orderEvents.length).toBeGreaterThan(60);
    const bad = orderEvents.filter((e) => {
      const lsn = parseLsn(e.data.tx!.lsn);
      return e.data.schemaVersion !== 1 + ddlAt.filter((l) => l < lsn).length;
    });
    expect(bad.map((e) => `${e.data.version} v${e.data.schemaVersion}`)).toEqual([]);
    for (let v = 1; v <= 6; v++) expect(orderEvents.some((e) => e.data.schemaVersion === v)).toBe(true);
    // In the deltas stream, each schema event comes right before the table's first event of its version.
    const seq = deltas.filter((m) => /^cdc\.(schema|delta)\.public\.orders\b/.test(m.subject)).map(ev);
    for (let i = 0; i < seq.length; i++) {
      const e = seq[i]!;
      if (e.type === 'io.sluice.schema') {
        expect(seq[i + 1]?.data.schemaVersion).toBe(e.data.schemaVersion);
        if (i > 0) expect(seq[i - 1]!.data.schemaVersion).toBe(e.data.schemaVersion - 1);
      } else if (i > 0) {
        expect(e.data.schemaVersion).toBe(seq[i - 1]!.data.schemaVersion);
      }
    }

    // Every fact and delta validates against the registry's schema of its own version, fetched by its dataschema.
    const nc = env.nc;
    const kv = await new Kvm(nc).open(schemaBucketName('cdc'));
    const reader = new SchemaRegistryReader(kv);
    const rows = [...deltas, ...facts]
      .map(ev)
      .filter((e) => e.type !== 'io.sluice.tx' && e.type !== 'io.sluice.schema');
    const invalid: string[] = [];
    for (const e of rows) {
      const v = await reader.forEvent(e);
      if (!v) {
        invalid.push(`${e.dataschema}: not in the registry`);
        continue;
      }
      const rowSchema = rowZod(v.schema);
      const check = (r: unknown, what: string) => {
        const res = rowSchema.safeParse(r);
        if (!res.success) invalid.push(`${e.data.version} ${what}: ${res.error.message.slice(0, 200)}`);
      };
      if (e.data.row) check(e.data.row, 'row');
      if (e.data.changes && e.data.op === 'insert')
        check(Object.fromEntries(Object.entries(e.data.changes).map(([k, ch]) => [k, ch.new])), 'changes');
    }
    expect(invalid).toEqual([]);
    // The dropped table keeps its history; the renamed table has one of its own.
    const all = await reader.all();
    expect([...all.keys()].sort()).toEqual([
      'public.items',
      'public.line_items',
      'public.orders',
      'public.other',
      'public.scratch',
    ]);
    expect(all.get('public.orders')!.map((v: StoredSchemaVersion) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);

    // CLI: diff classifies, export writes every version, codegen writes a module.
    const cliEnv = { SLUICE_NATS_URL: env.nats.url };
    const diffs = await Promise.all(
      [1, 2, 3, 4, 5].map((v) =>
        sluice(['schemas', 'diff', 'public.orders', String(v), String(v + 1), '--fail-on-breaking'], cliEnv),
      ),
    );
    expect(diffs.map((r) => r.code)).toEqual([0, 0, 1, 1, 1]);
    expect(diffs[3]!.stdout).toMatch(/BREAKING[\s\S]*column extra was renamed to remark/);
    expect(diffs[0]!.stdout).toMatch(/backward compatible[\s\S]*nullable column extra was added/);
    const missing = await sluice(['schemas', 'diff', 'public.orders', '1', '9'], cliEnv);
    expect(missing.stderr).toMatch(
      /^sluice: public\.orders has no schemaVersion 9 in the registry \(it has 1, 2, 3, 4, 5, 6\)\./,
    );
    // A prefix no connector ran with: no registry bucket, one sentence and the fix.
    const none = await sluice(['schemas', 'list'], { ...cliEnv, SLUICE_PREFIX: 'nobody' });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^sluice: the schema registry NOBODY_SCHEMAS does not exist\./);
    expect(none.stderr).toMatch(/Run the connector \("sluice run"\) first/);

    const outDir = join(tmp, 'export');
    const gen = join(tmp, 'gen', 'events.ts');
    const [exp, cg] = await Promise.all([
      sluice(['schemas', 'export', '--out', outDir], cliEnv),
      sluice(['schemas', 'codegen', '--out', gen], cliEnv),
    ]);
    expect(exp.stderr).toBe('');
    expect(cg.stderr).toBe('');
    const ordersFiles = (await readdir(join(outDir, 'tables', 'public.orders'))).sort();
    expect(ordersFiles).toHaveLength(18);
    expect(ordersFiles).toContain('v6.fact.schema.json');
    expect((await readdir(outDir)).sort()).toEqual([
      'delta.schema.json',
      'envelope.schema.json',
      'fact.schema.json',
      'schema-event.schema.json',
      'tables',
      'tx.schema.json',
    ]);

    // The generated module compiles under tsc --strict and parses real events of every version.
    const genDir = join(tmp, 'gen');
    await symlink(join(ROOT, 'node_modules'), join(genDir, 'node_modules'));
    await writeFile(
      join(genDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          outDir: 'out',
          skipLibCheck: true,
        },
        files: ['events.ts', 'use.ts'],
      }),
    );
    // A consumer's handler typed with the generated types (the compile checks the types exist and narrow).
    await writeFile(
      join(genDir, 'use.ts'),
      `import { PublicOrdersFact, PublicOrdersFactV6, type PublicOrdersDeltaV3 } from './events.js';
export function amountOf(e: PublicOrdersFactV6): string | null | undefined { return e.data.row?.amount; }
export function idOf(e: PublicOrdersFactV6): number | undefined { return e.data.row?.id; }
export function statusOf(e: PublicOrdersDeltaV3): string | undefined { return e.data.changes.status?.new; }
export function version(e: unknown): number { return PublicOrdersFact.parse(e).data.schemaVersion; }
`,
    );
    await writeFile(join(genDir, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsc = await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', genDir],
      {},
      genDir,
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
    const mod = (await import(pathToFileURL(join(genDir, 'out', 'events.js')).href)) as {
      parseEvent(e: unknown): unknown;
      PublicOrdersFactV6: { parse(e: unknown): { data: { row: Record<string, unknown> | null } } };
      PublicOrdersLatestVersion: number;
    };
    const failures: string[] = [];
    for (const e of rows) {
      try {
        mod.parseEvent(e);
      } catch (err) {
        failures.push(`${e.dataschema} ${e.data.version}: ${String(err).slice(0, 300)}`);
      }
    }
    expect(failures).toEqual([]);
    const versionsParsed = new Set(
      rows.filter((e) => e.data.table === 'public.orders').map((e) => e.data.schemaVersion),
    );
    expect([...versionsParsed].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(mod.PublicOrdersLatestVersion).toBe(6);

    // Upcasters: one handler written for v6 processes the orders facts of every version.
    const upcasters = defineUpcasters({
      'public.orders': {
        1: (r, ctx) => (ctx.partial ? r : { ...r, extra: null }),
        2: (r, ctx) => (ctx.partial ? r : { ...r, status: 'new' }),
        3: ({ note: _, ...r }) => r,
        4: ({ extra, ...r }) => (extra === undefined ? r : { ...r, remark: extra }),
        5: ({ amount, ...r }) =>
          amount === undefined ? r : { ...r, amount: amount === null ? null : String(amount) },
      },
    });
    const handled = new Set<number>();
    for (const m of facts) {
      const e = ev(m);
      // Live rows (deleted ones may lack columns added after Sluice last saw them: unknown values).
      if (e.data.table !== 'public.orders' || !e.data.row || e.data.op !== 'insert') continue;
      const latest = mod.PublicOrdersFactV6.parse(upcast(upcasters, e as unknown as UpcastableEvent));
      expect(Object.keys(latest.data.row!).sort()).toEqual(['amount', 'id', 'remark', 'status']);
      handled.add(e.data.schemaVersion);
    }
    expect(handled.size).toBeGreaterThanOrEqual(5);
    await c.stop();
  });
});
