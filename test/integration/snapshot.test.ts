/**
 * Snapshots (DBLog watermarks) against real servers: rows that existed before Sluice become facts
 * while the application keeps writing, a kill -9 mid-snapshot resumes, composite and uuid keys,
 * a table added later snapshotted on demand, and a re-snapshot never regresses a fact.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { eventually } from '../harness/index.js';
import { startEnv, type SluiceEnv, type FactLike } from './env.js';
import { snapshotBucketName, snapshotKey, type SnapshotState } from '../../connector/sink/snapshot-store.js';
import type { StreamMessage } from '../harness/index.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
});

afterAll(async () => {
  await env?.close();
});

const ROWS = 200_000;

/** Latest fact per subject, by reading the whole facts stream. */
function latest(msgs: StreamMessage[]): Map<string, FactLike> {
  const out = new Map<string, FactLike>();
  for (const m of msgs) out.set(m.subject, (m.data as { data: FactLike }).data);
  return out;
}

async function snapshotState(table: string): Promise<SnapshotState | null> {
  const kv = await new Kvm(env.nc).open(snapshotBucketName('cdc'));
  const e = await kv.get(snapshotKey(table));
  return e && e.length ? (e.json() as SnapshotState) : null;
}

/** Waits until the slot has confirmed everything written so far (the connector caught up). */
async function caughtUp(): Promise<void> {
  const { rows } = await env.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const target = rows[0]!.lsn;
  await eventually(
    async () => {
      const r = await env.sql<{ done: boolean }>(
        `SELECT confirmed_flush_lsn >= $1::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = 'sluice'`,
        [target],
      );
      if (!r.rows[0]?.done) throw new Error('slot behind');
    },
    { timeout: 120_000, interval: 250, message: 'connector caught up' },
  );
}

/** Live facts of a table compared with the table itself, column by column as text. */
async function expectFactsEqualTable(
  table: string,
  keyOf: (row: Record<string, unknown>) => string,
): Promise<void> {
  const facts = latest(await env.facts());
  const prefix = `cdc.fact.public.${table}.`;
  const live = new Map<string, Record<string, unknown>>();
  for (const [subject, f] of facts)
    if (subject.startsWith(prefix) && !f.deleted) live.set(subject.slice(prefix.length), f.row!);
  const { rows } = await env.sql<{ j: Record<string, unknown> }>(`SELECT to_jsonb(t) AS j FROM ${table} t`);
  const want = new Map(rows.map((r) => [keyOf(r.j), r.j] as const));
  const missing = [...want.keys()].filter((k) => !live.has(k));
  const extra = [...live.keys()].filter((k) => !want.has(k));
  expect({ missing: missing.slice(0, 5), extra: extra.slice(0, 5) }).toEqual({ missing: [], extra: [] });
  let mismatches = 0;
  for (const [k, row] of want) {
    const got = live.get(k)!;
    for (const [col, v] of Object.entries(row)) {
      if (String(got[col]) !== String(v)) {
        mismatches++;
        if (mismatches < 5) expect({ key: k, col, got: got[col] }).toEqual({ key: k, col, got: v });
      }
    }
  }
  expect(mismatches).toBe(0);
}

describe('snapshots', () => {
  it('turns 200k existing rows into facts while the application writes, across a kill -9', async () => {
    await env.sql(`CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, name text NOT NULL)`);
    await env.sql(`INSERT INTO accounts SELECT g, g % 1000, 'acct-' || g FROM generate_series(1, ${ROWS}) g`);
    // Small chunks so the snapshot is still running when the connector is killed.
    const settings = { SLUICE_SNAPSHOT_CHUNK_SIZE: '2000' };
    let child = env.spawnConnector(settings);

    // Application traffic on the same table while the snapshot runs.
    const writer = new pg.Client({ connectionString: env.dbUrl });
    await writer.connect();
    let stop = false;
    let nextId = ROWS + 1;
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return 1 + (seed % n);
    };
    // Paced like an application (about 500 writes/s): an unthrottled loop would outrun the
    // connector on 2 shared cores and the snapshot's watermarks would never be reached.
    const started = Date.now();
    let ops = 0;
    const traffic = (async () => {
      while (!stop) {
        const due = started + ops++ * 2;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const op = rnd(10);
        if (op <= 6)
          await writer.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [rnd(ROWS)]);
        else if (op <= 8) await writer.query('DELETE FROM accounts WHERE id = $1', [rnd(ROWS)]);
        else await writer.query(`INSERT INTO accounts VALUES ($1, 0, 'new')`, [nextId++]);
      }
    })();

    // Kill the connector mid-snapshot, then start it again: it resumes from the last chunk.
    const midway = await eventually(
      async () => {
        const s = await snapshotState('public.accounts');
        if (!s || s.rowsDone < 20_000) throw new Error(`snapshot at ${s?.rowsDone ?? 0} rows`);
        return s;
      },
      { timeout: 120_000, interval: 100, message: 'snapshot under way' },
    );
    expect(midway.status).toBe('running');
    await child.kill('SIGKILL');
    const beforeRestart = (await snapshotState('public.accounts'))!;
    child = env.spawnConnector(settings);
    const done = await eventually(
      async () => {
        const s = await snapshotState('public.accounts');
        if (s?.status !== 'done') throw new Error(`snapshot ${s?.status} at ${s?.rowsDone} rows`);
        return s;
      },
      { timeout: 240_000, interval: 250, message: 'snapshot done' },
    );
    // Resumed rather than restarted: the rows done before the kill were not read again.
    expect(beforeRestart.rowsDone).toBeGreaterThan(0);
    expect(done.rowsDone).toBeLessThan(ROWS + beforeRestart.rowsDone);
    stop = true;
    await traffic;
    await writer.end();
    await caughtUp();
    await expectFactsEqualTable('accounts', (r) => String(r.id));
    const facts = latest(await env.facts());
    expect([...facts.values()].some((f) => f.op === 'snapshot')).toBe(true);
    await child.kill('SIGTERM');
  });

  it('snapshots composite and uuid keys, a table added later on demand, and never regresses a fact', async () => {
    const c = env.startConnector({ SLUICE_TABLE_REFRESH_SEC: '1' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    await env.sql(`
      CREATE TABLE lines (order_id int, line_no int, sku text, PRIMARY KEY (order_id, line_no));
      INSERT INTO lines SELECT g / 10, g % 10, 'sku-' || g FROM generate_series(0, 4999) g;
      CREATE TABLE tokens (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), label text);
      INSERT INTO tokens (label) SELECT 'token ' || g FROM generate_series(1, 3000) g;
    `);
    // New tables join the publication while the connector runs (table refresh) and are
    // snapshotted; an operator can also ask for it with `sluice snapshot`.
    const c2 = c;
    await execFileP(
      process.execPath,
      ['--import', 'tsx', 'cli/sluice.ts', 'snapshot', 'public.lines', 'public.tokens'],
      {
        cwd: ROOT,
        env: { ...process.env, ...env.env },
      },
    );
    const { requestSnapshot, openSnapshotBucket } = await import('../../connector/sink/snapshot-store.js');
    const kv = await openSnapshotBucket(env.nc, 'cdc', 1);
    await eventually(
      async () => {
        for (const t of ['public.lines', 'public.tokens']) {
          const s = await snapshotState(t);
          if (s?.status !== 'done') throw new Error(`${t} ${s?.status}`);
        }
      },
      { timeout: 120_000, interval: 250 },
    );
    await caughtUp();
    await expectFactsEqualTable('lines', (r) => {
      // composite keys are ~base64url of the JSON array of key values
      return '~' + Buffer.from(JSON.stringify([r.order_id, r.line_no])).toString('base64url');
    });
    await expectFactsEqualTable('tokens', (r) => String(r.id));

    // Re-snapshot under writes: no fact may go back to an older version or value.
    const before = latest(await env.facts());
    await requestSnapshot(kv, ['public.lines']);
    const writes = (async () => {
      for (let i = 0; i < 200; i++) {
        await env.sql(`UPDATE lines SET sku = sku || '+' WHERE order_id = $1`, [i % 500]);
      }
    })();
    await writes;
    await eventually(
      async () => {
        const s = await snapshotState('public.lines');
        if (s?.status !== 'done') throw new Error(`lines ${s?.status}`);
      },
      { timeout: 120_000, interval: 250 },
    );
    await caughtUp();
    // The facts stream keeps one fact per subject: none may have gone back to an older version.
    const after = latest(await env.facts());
    let rose = 0;
    for (const [subject, f] of before) {
      const now = after.get(subject);
      expect(now, subject).toBeDefined();
      expect(now!.version >= f.version, `${subject} ${f.version} → ${now!.version}`).toBe(true);
      if (subject.startsWith('cdc.fact.public.lines.') && now!.version > f.version) rose++;
    }
    // the re-snapshot did republish the lines table
    expect(rose).toBeGreaterThan(4000);
    await expectFactsEqualTable(
      'lines',
      (r) => '~' + Buffer.from(JSON.stringify([r.order_id, r.line_no])).toString('base64url'),
    );
    await c2.stop();
  });
});
