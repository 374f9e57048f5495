/**
 * `sluice consumers run` as a child process under shop traffic: SIGKILL mid-batch loses nothing and
 * an idempotent handler leaves no duplicate effect; SIGTERM lets running handlers finish; the
 * status, dlq and HTTP endpoints answer.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { eventually, freePort } from '../harness/index.js';
import type { DeltaEvent } from '../../schemas/events.js';
import { listConsumers } from '../../consumers/runtime/consumer-admin.js';
import { JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { startEnv, type SluiceEnv } from './env.js';
import {
  faultDelay,
  prng,
  seedShopWithAudit,
  shopConnectorEnv,
  startTraffic,
  tail,
  waitCaughtUp,
  waitSnapshotsDone,
} from './faults-helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let env: SluiceEnv;
let effects: pg.Pool;
let effectsUrl: string;

interface Child {
  readonly pid: number;
  output(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}
const children: Child[] = [];

function sluice(args: string[], extra: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      SLUICE_NATS_URL: env.nats.url,
      SLUICE_CONSUMERS_HTTP_PORT: '0',
      SLUICE_LOG_LEVEL: 'info',
      EFFECTS_DATABASE_URL: effectsUrl,
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const c: Child = {
    pid: child.pid!,
    output: () => out,
    exited,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  children.push(c);
  return c;
}

async function sluiceOutput(args: string[]): Promise<{ code: number | null; out: string }> {
  const c = sluice(args);
  const code = await c.exited;
  return { code, out: c.output() };
}

async function startDaemon(extra: Record<string, string> = {}): Promise<Child> {
  const c = sluice(['consumers', 'run', 'test/integration/fixtures/effects-consumer.ts'], extra);
  await eventually(() => /"msg":"consumer running"/.test(c.output()), {
    timeout: 60_000,
    interval: 50,
    message: `the consumer daemon to run:\n${tail(c.output())}`,
  });
  return c;
}

/** Every sample of a daemon's /metrics by series (`name{labels}`). */
async function scrape(base: string): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function calls(): Promise<number> {
  return (await effects.query<{ n: number }>('SELECT count(*)::int AS n FROM consumer_calls')).rows[0]!.n;
}

/**
 * Truth: every delta of the three tables in the stream (the connector's own tests check the stream
 * against the committed changes). Each entity's effect holds its last version and was applied once
 * per change; every event reached the handler.
 */
async function expectEffectsMatchStream(): Promise<void> {
  const deltas = (await env.deltas())
    .map((m) => m.data as DeltaEvent)
    .filter(
      (e) =>
        e.type === 'io.sluice.delta' &&
        ['public.orders', 'public.order_items', 'public.customers'].includes(e.data.table),
    );
  const want = new Map<string, { version: string; changes: number }>();
  for (const e of deltas) {
    const k = `${e.data.table}/${JSON.stringify(e.data.key)}`;
    want.set(k, { version: e.data.version, changes: (want.get(k)?.changes ?? 0) + 1 });
  }
  await eventually(
    async () => {
      const r = await effects.query<{ n: number }>(
        'SELECT coalesce(sum(applied), 0)::int AS n FROM consumer_effects',
      );
      if (r.rows[0]!.n < deltas.length) throw new Error(`${r.rows[0]!.n} of ${deltas.length} applied`);
      return true;
    },
    { timeout: 90_000, interval: 250, message: 'every delta applied' },
  );
  const got = await effects.query<{ entity: string; version: string; applied: number }>(
    'SELECT entity, version, applied FROM consumer_effects',
  );
  expect(new Map(got.rows.map((r) => [r.entity, { version: r.version, changes: r.applied }]))).toEqual(want);
  // Every event reached the handler; some more than once (the kills), without a second effect.
  const distinct = (
    await effects.query<{ n: number }>('SELECT count(DISTINCT event_id)::int AS n FROM consumer_calls')
  ).rows[0]!.n;
  expect(distinct).toBe(deltas.length);
}

beforeAll(async () => {
  env = await startEnv();
  effectsUrl = await env.pg.createDatabase();
  effects = new pg.Pool({ connectionString: effectsUrl, max: 2 });
  await effects.query(`
    CREATE TABLE consumer_calls (event_id text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(),
                                 pid int, started_at timestamptz);
    CREATE TABLE consumer_effects (entity text PRIMARY KEY, version text NOT NULL, applied int NOT NULL);
  `);
  await seedShopWithAudit(env, { customers: 300, products: 60, orders: 150 });
  env.startConnector(shopConnectorEnv());
  await waitSnapshotsDone(env);
});

afterAll(async () => {
  for (const c of children) await c.kill('SIGKILL');
  await effects?.end();
  await env?.close();
});

describe('sluice consumers run', () => {
  it('loses nothing when killed with SIGKILL mid-batch, and an idempotent handler leaves no duplicate effect', async () => {
    const rnd = prng(Number(process.env.SLUICE_FAULT_SEED ?? 77));
    const traffic = startTraffic(env, { rate: 300, seed: 21 });
    let daemon = await startDaemon();
    for (let kill = 0; kill < 3; kill++) {
      const before = await calls();
      await eventually(async () => (await calls()) > before + 100, {
        timeout: 60_000,
        interval: 50,
        message: 'handlers to run',
      });
      await faultDelay(Math.floor(rnd() * 300));
      await daemon.kill('SIGKILL');
      daemon = await startDaemon();
    }
    await traffic.stop();
    await waitCaughtUp(env);

    await expectEffectsMatchStream();

    // Status and dead letters through the CLI.
    const status = await sluiceOutput(['consumers', 'status', '--json']);
    expect(status.code, status.out).toBe(0);
    const effectsStatus = (
      JSON.parse(status.out) as { name: string; pending: number; deadLetters: number; stream: string }[]
    ).find((c) => c.name === 'effects');
    expect(effectsStatus).toMatchObject({ stream: 'CDC_DELTAS', pending: 0, deadLetters: 0 });
    const dl = await sluiceOutput(['dlq', 'list', 'effects', '--json']);
    expect(dl.code, dl.out).toBe(0);
    expect(JSON.parse(dl.out)).toEqual([]);
    await daemon.kill('SIGTERM');
  });

  it('serves /healthz, /readyz and /metrics, and stops on SIGTERM after running handlers finish', async () => {
    const port = await freePort();
    const daemon = await startDaemon({ SLUICE_CONSUMERS_HTTP_PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ consumers: { effects: 'running' } });
    const traffic = startTraffic(env, { rate: 200, seed: 22 });
    await eventually(
      async () => {
        const m = await (await fetch(`${base}/metrics`)).text();
        const processed = Number(
          /sluice_consumer_messages_total\{consumer="effects",outcome="ok"\} (\d+)/.exec(m)?.[1] ?? 0,
        );
        if (processed < 20) throw new Error(`processed ${processed}`);
        return m;
      },
      { timeout: 60_000, interval: 200, message: 'metrics to count processed events' },
    );
    const m = await scrape(base);
    expect(m.get('sluice_consumer_handler_seconds_count{consumer="effects"}')).toBeGreaterThan(0);
    expect(m.get('sluice_consumer_messages_total{consumer="effects",outcome="dead_lettered"}')).toBe(0);
    expect(m.get('sluice_consumer_dead_letters{consumer="effects"}')).toBe(0);
    expect(m.get('sluice_consumer_lease_held{consumer="effects"}')).toBe(1);
    expect(m.get('sluice_process_resident_memory_bytes')).toBeGreaterThan(0);
    const code = await daemon.kill('SIGTERM');
    await traffic.stop();
    expect(code, tail(daemon.output())).toBe(0);
    expect(daemon.output()).toMatch(/"msg":"consumer stopped"/);
    // Every handler that started before SIGTERM finished: each called event's entity holds at
    // least that event's version (a handler cut short would leave its entity behind).
    await waitCaughtUp(env);
    const byId = new Map(
      (await env.deltas())
        .map((m) => m.data as DeltaEvent)
        .filter((e) => e.type === 'io.sluice.delta')
        .map((e) => [
          e.id,
          { entity: `${e.data.table}/${JSON.stringify(e.data.key)}`, version: e.data.version },
        ]),
    );
    const state = new Map(
      (
        await effects.query<{ entity: string; version: string }>(
          'SELECT entity, version FROM consumer_effects',
        )
      ).rows.map((r) => [r.entity, r.version]),
    );
    const called = (await effects.query<{ event_id: string }>('SELECT DISTINCT event_id FROM consumer_calls'))
      .rows;
    const cut = called.filter((c) => {
      const e = byId.get(c.event_id)!;
      return (state.get(e.entity) ?? '') < e.version;
    });
    expect(cut).toEqual([]);
    // The next process catches up; its metrics count exactly the handler calls it made and show
    // the backlog the server reports going back to 0.
    const callsBefore = await calls();
    const againPort = await freePort();
    const again = await startDaemon({ SLUICE_CONSUMERS_HTTP_PORT: String(againPort) });
    const client = await JetStreamClient.create(env.nc);
    await eventually(
      async () => {
        const e = (await listConsumers(client, 'cdc')).find((c) => c.name === 'effects');
        if (!e || e.pending > 0 || e.ackPending > 0) throw new Error(JSON.stringify(e));
        return true;
      },
      { timeout: 90_000, interval: 250, message: 'the consumer to catch up' },
    );
    const caughtUp = await eventually(
      async () => {
        const g = await scrape(`http://127.0.0.1:${againPort}`);
        const backlog = ['pending_messages', 'ack_pending_messages', 'in_flight'].map(
          (n) => g.get(`sluice_consumer_${n}{consumer="effects"}`) ?? -1,
        );
        if (backlog.some((v) => v !== 0)) throw new Error(`backlog ${backlog.join(', ')}`);
        return g;
      },
      { timeout: 30_000, interval: 250, message: 'the metrics to show no backlog' },
    );
    const handled = (await calls()) - callsBefore;
    expect(caughtUp.get('sluice_consumer_messages_total{consumer="effects",outcome="ok"}')).toBe(handled);
    expect(caughtUp.get('sluice_consumer_handler_seconds_count{consumer="effects"}')).toBe(handled);
    expect(caughtUp.get('sluice_consumer_messages_total{consumer="effects",outcome="retry"}')).toBe(0);
    console.log(
      `consumer metrics after catching up: ${handled} handled, ` +
        `${caughtUp.get('sluice_consumer_redeliveries_total{consumer="effects"}')} redelivered, ` +
        `handler mean ${((1000 * caughtUp.get('sluice_consumer_handler_seconds_sum{consumer="effects"}')!) / Math.max(1, handled)).toFixed(1)} ms`,
    );
    await again.kill('SIGTERM');
  });

  it('runs one active process per consumer; a standby takes over within 10 s of a SIGKILL, losing nothing', async () => {
    const active = await startDaemon();
    const standby = sluice(['consumers', 'run', 'test/integration/fixtures/effects-consumer.ts']);
    await eventually(() => /"msg":"standing by/.test(standby.output()), {
      timeout: 60_000,
      interval: 50,
      message: `the second process to stand by:\n${tail(standby.output())}`,
    });
    const traffic = startTraffic(env, { rate: 300, seed: 23 });
    const before = await calls();
    await eventually(async () => (await calls()) > before + 100, {
      timeout: 60_000,
      interval: 50,
      message: 'handlers to run',
    });
    expect(standby.output()).not.toMatch(/"msg":"consumer running"/);
    const killedAt = Date.now();
    await active.kill('SIGKILL');
    await eventually(() => /"msg":"consumer running"/.test(standby.output()), {
      timeout: 15_000,
      interval: 50,
      message: `the standby to take over:\n${tail(standby.output())}`,
    });
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await traffic.stop();
    await waitCaughtUp(env);
    await expectEffectsMatchStream();
    expect(await standby.kill('SIGTERM')).toBe(0);
  });

  it('fences a paused holder: after SIGSTOP a standby takes over; resumed, the old process starts no handler', async () => {
    const old = await startDaemon();
    const next = sluice(['consumers', 'run', 'test/integration/fixtures/effects-consumer.ts']);
    await eventually(() => /"msg":"standing by/.test(next.output()), {
      timeout: 60_000,
      interval: 50,
      message: `the second process to stand by:\n${tail(next.output())}`,
    });
    const traffic = startTraffic(env, { rate: 300, seed: 29 });
    let stoppedAt!: Date;
    try {
      const before = await calls();
      await eventually(async () => (await calls()) > before + 100, {
        timeout: 60_000,
        interval: 50,
        message: 'handlers to run',
      });
      process.kill(old.pid, 'SIGSTOP');
      stoppedAt = new Date();
      await eventually(() => /"msg":"consumer running"/.test(next.output()), {
        timeout: 30_000,
        interval: 50,
        message: `the standby to take over from the paused holder:\n${tail(next.output())}`,
      });
      const takeover = Date.now() - stoppedAt.getTime();
      // The new holder handles events while the old one is still paused.
      const byNext = async () =>
        (
          await effects.query<{ n: number }>('SELECT count(*)::int AS n FROM consumer_calls WHERE pid = $1', [
            next.pid,
          ])
        ).rows[0]!.n;
      await eventually(async () => (await byNext()) > 50, {
        timeout: 60_000,
        interval: 50,
        message: 'the new holder to handle events',
      });
      process.kill(old.pid, 'SIGCONT');
      await eventually(() => /lost the consumer lease/.test(old.output()), {
        timeout: 30_000,
        interval: 50,
        message: `the resumed process to notice it lost the lease:\n${tail(old.output())}`,
      });
      console.log(`consumer lease: takeover ${takeover} ms after SIGSTOP`);
      expect(takeover).toBeLessThan(10_000);
    } finally {
      await traffic.stop();
    }
    await waitCaughtUp(env);
    await expectEffectsMatchStream();
    // Fenced: the resumed process started no handler after the pause began (a handler already
    // running then may finish; its start time is before the pause).
    const late = await effects.query<{ event_id: string; started_at: Date }>(
      'SELECT event_id, started_at FROM consumer_calls WHERE pid = $1 AND started_at >= $2',
      [old.pid, stoppedAt],
    );
    expect(late.rows, 'handlers the paused process started after SIGSTOP').toEqual([]);
    await old.kill('SIGTERM');
    expect(await next.kill('SIGTERM')).toBe(0);
  });

  it('explains a module that is not a consumer in one sentence', async () => {
    const r = await sluiceOutput(['consumers', 'run', 'examples/shop/money.ts']);
    expect(r.code).toBe(1);
    expect(r.out.trim()).toMatch(
      /^sluice: consumer module examples\/shop\/money.ts has no consumer as its default export\. Write: import/,
    );
    const missing = await sluiceOutput(['consumers', 'run', 'nope.js']);
    expect(missing.out.trim()).toMatch(/^sluice: consumer module nope.js does not exist\./);
    const bad = await sluiceOutput(['dlq', 'show', 'effects', '12x']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/a dead letter id is a number/);
  });
});
