/**
 * `sluice run`'s HTTP endpoints against real servers, under shop traffic: /metrics moves as the
 * truth says (snapshot rows counted in the tables, events per table and operation counted by a
 * shadow audit trigger, transactions by the traffic generator), the retained-WAL warning shows in
 * the metrics and in `sluice status` and `sluice doctor`, and /readyz turns unready when NATS or
 * PostgreSQL goes away and ready again after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { freePort } from '../harness/ports.js';
import { startEnv, type ChildConnector, type SluiceEnv } from './env.js';
import {
  KEYED_TABLES,
  auditCounts,
  checkShopAfterFaults,
  explained,
  seedShopWithAudit,
  shopConnectorEnv,
  spawnStreaming,
  startTraffic,
  waitCaughtUp,
} from './faults-helpers.js';
import { sluice } from './sluice-command.js';

let env: SluiceEnv;
let c: ChildConnector;
let base: string;

/** Retained WAL above which the connector warns: low enough that traffic crosses it. */
const WARN_BYTES = 4096;

beforeAll(async () => {
  env = await startEnv();
  await seedShopWithAudit(env, { customers: 100, products: 40, orders: 150 });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  c = await spawnStreaming(
    env,
    shopConnectorEnv({
      SLUICE_HTTP_PORT: String(port),
      SLUICE_HEARTBEAT_INTERVAL_SEC: '1',
      SLUICE_RETAINED_WAL_WARN_BYTES: String(WARN_BYTES),
    }),
  );
});

afterAll(async () => {
  await env?.close();
});

/** Every sample of /metrics by series (`name{labels}`). */
async function scrape(): Promise<Map<string, number>> {
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

async function ready(): Promise<number> {
  return (await fetch(`${base}/readyz`)).status;
}

const count = async (table: string) =>
  (await env.sql<{ n: number }>(`SELECT count(*)::int AS n FROM public.${table}`)).rows[0]!.n;

describe('metrics and readiness of sluice run', () => {
  it('count the snapshot, the events per table and operation, and the transactions under shop traffic', async () => {
    // The initial snapshot ran without traffic: its rows are exactly the tables' rows.
    let m = await scrape();
    let rows = 0;
    for (const t of KEYED_TABLES) {
      const n = await count(t);
      rows += n;
      expect(m.get(`sluice_snapshot_rows_done{table="public.${t}"}`), t).toBe(n);
    }
    expect(m.get('sluice_snapshot_rows_total')).toBe(rows);
    expect(m.get('sluice_events_published_total{kind="fact",table="public.customers",op=""}')).toBe(
      await count('customers'),
    );
    expect(m.get('sluice_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.get('sluice_streaming')).toBe(1);
    expect(await ready()).toBe(200);

    const traffic = startTraffic(env, { rate: 300, seed: 11 });
    // While traffic runs the slot retains more WAL than the (low) threshold: warned everywhere.
    await eventually(
      async () => {
        const g = await scrape();
        if (g.get('sluice_slot_retained_wal_warning') !== 1) throw new Error('no retained-WAL warning yet');
      },
      { timeout: 30_000, interval: 500, message: 'sluice_slot_retained_wal_warning = 1' },
    );
    const cli = { ...env.env, SLUICE_RETAINED_WAL_WARN_BYTES: String(WARN_BYTES) };
    const [status, doctor] = await Promise.all([sluice(['status'], cli), sluice(['doctor'], cli)]);
    expect(status.stdout).toMatch(/warning: replication slot sluice retains \d+ MiB of WAL/);
    expect(doctor.stdout).toMatch(/warn {2}WAL retained by "sluice": \d+ bytes/);
    await eventually(async () => traffic.changes() >= 1500 || Promise.reject(new Error('traffic')), {
      timeout: 60_000,
    });
    const stats = await traffic.stop();
    await explained(env, c, () => waitCaughtUp(env));

    // Every committed row change, counted by the audit trigger, is one delta event.
    const audit = await auditCounts(env);
    m = await eventually(
      async () => {
        const g = await scrape();
        if (g.get('sluice_in_flight') !== 0) throw new Error('messages in flight');
        return g;
      },
      { timeout: 30_000, message: 'nothing in flight' },
    );
    let changes = 0;
    for (const [k, n] of Object.entries(audit)) {
      const [table, op] = k.split('.');
      changes += n;
      expect(m.get(`sluice_events_published_total{kind="delta",table="public.${table}",op="${op}"}`), k).toBe(
        n,
      );
    }
    expect(m.get('sluice_changes_total')).toBe(changes);
    expect(changes).toBe(stats.changes);
    // Each traffic operation is one transaction; heartbeats are transactions too.
    expect(m.get('sluice_transactions_total')).toBeGreaterThanOrEqual(stats.ops);
    expect(m.get('sluice_commit_ack_seconds_count')).toBeGreaterThanOrEqual(stats.ops);
    expect(m.get('sluice_commit_ack_seconds_sum')).toBeGreaterThan(0);
    for (const s of ['facts', 'deltas']) {
      expect(m.get(`sluice_messages_acked_total{stream="${s}"}`)).toBe(
        m.get(`sluice_messages_published_total{stream="${s}"}`),
      );
    }
    expect(m.get('sluice_replication_lag_seconds')).toBe(0);
    expect(m.get('sluice_session_failures_total')).toBe(0);
    expect(m.get('sluice_confirmed_lsn')).toBeGreaterThan(0);
    // Idle again: heartbeats are written and published.
    await eventually(
      async () => {
        const g = await scrape();
        if (
          !(g.get('sluice_heartbeats_published_total')! > (m.get('sluice_heartbeats_published_total') ?? 0))
        )
          throw new Error('no heartbeat published since the traffic stopped');
      },
      { timeout: 15_000, message: 'a position heartbeat after the traffic' },
    );
    console.log(
      `metrics: ${stats.ops} transactions, ${changes} changes; commit→ack mean ` +
        `${((1000 * m.get('sluice_commit_ack_seconds_sum')!) / m.get('sluice_commit_ack_seconds_count')!).toFixed(1)} ms`,
    );
  });

  it.each([
    ['NATS', 'NATS_UNREACHABLE', () => env.nats.stop(), () => env.nats.start()],
    ['PostgreSQL', 'PG_UNREACHABLE', () => env.pg.stop(), () => env.pg.start()],
  ] as const)(
    'turn /readyz unready while %s is away and ready again after',
    async (_name, code, stop, start) => {
      const before = await scrape();
      expect(await ready()).toBe(200);
      await stop();
      const down = Date.now();
      await eventually(async () => (await ready()) === 503 || Promise.reject(new Error('still ready')), {
        timeout: 30_000,
        interval: 100,
        message: '/readyz to answer 503',
      });
      const unreadyMs = Date.now() - down;
      const during = await scrape();
      expect(during.get('sluice_streaming')).toBe(0);
      // The body says why, with the code of the error that ended the session.
      const body = (await (await fetch(`${base}/readyz`)).json()) as {
        state: string;
        lastErrorCode: string;
        lastError: string;
      };
      console.log(`readyz while ${_name} is away: ${JSON.stringify(body)}`);
      expect(body).toMatchObject({ state: 'backoff', lastErrorCode: code });
      await start();
      const up = Date.now();
      await eventually(async () => (await ready()) === 200 || Promise.reject(new Error('not ready')), {
        timeout: 90_000,
        interval: 200,
        message: '/readyz to answer 200 again',
      });
      console.log(
        `readyz: unready ${unreadyMs} ms after ${_name} went away, ready ${Date.now() - up} ms after it came back`,
      );
      const after = await scrape();
      expect(after.get('sluice_session_failures_total')!).toBeGreaterThan(
        before.get('sluice_session_failures_total')!,
      );
      expect(after.get('sluice_sessions_total')!).toBeGreaterThan(before.get('sluice_sessions_total')!);
      expect(after.get('sluice_streaming')).toBe(1);
    },
  );

  it('lose nothing and duplicate nothing across the outages', async () => {
    await env.sql(
      `UPDATE public.products SET price = price + 1 WHERE id IN (SELECT id FROM public.products LIMIT 5)`,
    );
    await explained(env, c, () => waitCaughtUp(env));
    await checkShopAfterFaults(env); // facts equal the tables, one delta per audited change
  });
});
