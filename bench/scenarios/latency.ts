/**
 * Scenario 2, latency under load, on one captured database (the shop plus bench_orders, snapshotted
 * first so the connector starts warm, as it would in production):
 *
 *   a. shop traffic (runTraffic) at 2k changes/s: commit → JetStream latency of every delta;
 *   b. the machine's maximum write rate (pgbench single-row UPDATEs of bench_orders, 8 clients):
 *      the latency of those deltas, and how long after the load stops the last one is stored.
 *
 * Latency is measured at a core NATS subscriber on `cdc.delta.>` (see support/latency.ts): arrival
 * − data.tx.commitTime. A delta reaches it as JetStream stores it, just before the ack.
 */
import { runTraffic, seedShop, type TrafficStats } from '../../examples/shop/index.js';
import { CREATE_BENCH_TABLE, insertRowsOneTx, pgbenchUpdateScript } from '../support/bench-table.js';
import { nowMs, pgClient, pollUntil, sleep, slotLag } from '../support/bench-env.js';
import { spawnConnector, waitStreaming, type ConnectorProcess } from '../support/connector-process.js';
import {
  maxFigure,
  type BenchContext,
  type ScenarioOutcome,
  type ScenarioResult,
} from '../support/figures.js';
import { DeltaLatencyRecorder, summarize } from '../support/latency.js';
import { runPgbench } from '../support/pgbench.js';
import { snapshotProgress } from '../support/snapshots.js';
import { resetSluiceStreams, sluiceStreams } from '../support/streams.js';
import { PGBENCH_CLIENTS, PGBENCH_ROWS, PGBENCH_THREADS } from '../limits/postgres-write.js';

const DB = 'bench_latency';
const SLOT = 'bench_latency';
const STEADY_RATE = 2000;
const BENCH_DELTAS = 'cdc.delta.public.bench_orders.';

export async function latencyUnderLoad(ctx: BenchContext): Promise<ScenarioOutcome> {
  const { env } = ctx;
  await resetSluiceStreams(env.jsm);
  const url = await env.createDatabase(DB);
  let c: ConnectorProcess | undefined;
  try {
    await seedShop(url, { customers: ctx.quick ? 2000 : 5000, seed: 1 });
    await env.query(DB, CREATE_BENCH_TABLE);
    const db = await pgClient(url);
    try {
      await insertRowsOneTx(db, 1, PGBENCH_ROWS);
      await db.query('VACUUM ANALYZE');
    } finally {
      await db.end();
    }
    c = spawnConnector(env, { databaseUrl: url, slot: SLOT, snapshot: 'initial' });
    await waitStreaming(env, c);
    const snap = await (await snapshotProgress(env.nc)).waitAllDone(300_000);
    if (!snap) throw new Error(`the initial snapshot did not finish; connector output:\n${c.output()}`);
    ctx.log(`  snapshot of ${snap.length} tables done; shop traffic at ${STEADY_RATE} changes/s`);

    const steady = await steadyLoad(ctx, url);
    const max = await maxWriteRate(ctx, c);
    return {
      figures: [...steady.figures, ...max.figures],
      series: [...steady.series, ...max.series],
    };
  } finally {
    await c?.stop();
    await env.dropDatabase(DB, SLOT);
    await resetSluiceStreams(env.jsm);
  }
}

async function steadyLoad(ctx: BenchContext, url: string): Promise<ScenarioOutcome> {
  const seconds = ctx.quick ? 20 : 60;
  const rec = new DeltaLatencyRecorder(ctx.env.nc);
  let traffic: TrafficStats;
  try {
    traffic = await runTraffic(url, { rate: STEADY_RATE, durationSec: seconds, concurrency: 8, seed: 2 });
    await sleep(1000); // the last deltas
  } finally {
    rec.stop();
  }
  const s = summarize(rec.latencies);
  ctx.log(
    `  steady: ${traffic.changes} changes (${Math.round(traffic.achievedRate)}/s), ${s.count} deltas: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, p999 ${s.p999.toFixed(1)} ms`,
  );
  const series = rec.series(1);
  return {
    figures: [
      maxFigure({
        name: 'latency-steady-p99',
        scenario: 2,
        title: `Latency at ${STEADY_RATE / 1000}k changes/s, p99`,
        value: s.p99,
        unit: 'ms',
        max: 25,
        targetText: 'p99 ≤ 25 ms',
        note: 'commit → stored in JetStream (core subscriber on cdc.delta.>, ≈ ack)',
        details: {
          p50: s.p50,
          p99: s.p99,
          p999: s.p999,
          max: s.max,
          deltas: s.count,
          seconds,
          achievedChangesPerSec: traffic.achievedRate,
          appLatencyP99Ms: traffic.latencyMs.p99,
          trafficErrors: traffic.errors,
        },
      }),
    ],
    series: [
      {
        title: `2a. Latency at ${STEADY_RATE / 1000}k changes/s (shop traffic)`,
        unit: 'ms',
        lines: [
          { label: 'p50', points: series.map((b) => [b.t, b.p50]) },
          { label: 'p99', points: series.map((b) => [b.t, b.p99]) },
        ],
        reference: { label: 'target p99', y: 25 },
      },
    ],
  };
}

async function maxWriteRate(ctx: BenchContext, c: ConnectorProcess): Promise<ScenarioOutcome> {
  const { env } = ctx;
  const seconds = ctx.quick ? 10 : 30;
  const drainTimeoutSec = ctx.quick ? 60 : 120;
  const before = await sluiceStreams(env.jsm);
  const rec = new DeltaLatencyRecorder(env.nc, (subject) => subject.startsWith(BENCH_DELTAS));
  const lagPoints: [number, number][] = [];
  const lagTimer = setInterval(() => {
    void slotLag(env, SLOT)
      .then((lag) => lag !== null && lagPoints.push([rec.elapsed(), lag / 2 ** 20]))
      .catch(() => undefined);
  }, 500);
  ctx.log(`  max write rate: pgbench ${PGBENCH_CLIENTS} clients for ${seconds} s on a captured table`);
  let drainSec: number | null = null;
  let confirmedSec: number | null = null;
  let lagAtStop: number | null;
  let pg: Awaited<ReturnType<typeof runPgbench>>;
  let loadEnd: number;
  try {
    pg = await runPgbench(env.pg, {
      database: DB,
      script: pgbenchUpdateScript(PGBENCH_ROWS),
      clients: PGBENCH_CLIENTS,
      threads: PGBENCH_THREADS,
      seconds,
    });
    loadEnd = rec.elapsed();
    const stop = await env.query<{ lsn: string }>('postgres', 'SELECT pg_current_wal_lsn()::text AS lsn');
    const stopLsn = stop.rows[0]!.lsn;
    lagAtStop = await slotLag(env, SLOT);
    const wantDeltas = before.deltas.messages + 2 * pg.transactions; // a delta and a commit marker each
    const drained = await pollUntil(
      async () => {
        const s = await sluiceStreams(env.jsm);
        return s.deltas.messages >= wantDeltas ? s : undefined;
      },
      drainTimeoutSec * 1000,
      100,
    );
    if (drained) drainSec = Math.max(0, (drained.deltas.lastTs! - pg.endedAtMs) / 1000);
    const confirmed = await pollUntil(
      async () => {
        const r = await env.query<{ ok: boolean }>(
          'postgres',
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
          [SLOT, stopLsn],
        );
        return r.rows[0]?.ok ? true : undefined;
      },
      drained ? 30_000 : 1000,
      100,
    );
    if (confirmed) confirmedSec = (nowMs() - pg.endedAtMs) / 1000;
    await sleep(500);
  } finally {
    clearInterval(lagTimer);
    rec.stop();
  }
  const s = summarize(rec.latencies);
  const limit = ctx.limits.get('postgres-write-rate')?.value ?? null;
  ctx.log(
    `  pgbench ${Math.round(pg.tps)} tps with capture${limit ? ` (${Math.round(limit)} without)` : ''}; ${s.count} deltas: p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms; last delta stored ${drainSec === null ? `not within ${drainTimeoutSec} s` : `${drainSec.toFixed(2)} s`} after the load stopped`,
  );
  const series = rec.series(1);
  const figures: ScenarioResult[] = [
    maxFigure({
      name: 'latency-max-rate-p99',
      scenario: 2,
      title: 'Latency at max write rate (pgbench), p99',
      value: s.p99,
      unit: 'ms',
      max: 250,
      targetText: 'p99 ≤ 250 ms',
      note: `pgbench ${Math.round(pg.tps)} tps on a captured table`,
      details: {
        p50: s.p50,
        p99: s.p99,
        p999: s.p999,
        max: s.max,
        deltas: s.count,
        transactions: pg.transactions,
        seconds,
        tpsWithCapture: pg.tps,
        tpsLimit: limit,
        tpsRatio: limit ? pg.tps / limit : null,
        connectorRssMB: c.rssMB(),
      },
    }),
    maxFigure({
      name: 'lag-drain-after-max-rate',
      scenario: 2,
      title: 'Lag drained after max-rate load stops',
      value: drainSec,
      unit: 's',
      max: 5,
      targetText: '≤ 5 s',
      note:
        drainSec === null
          ? `not drained within ${drainTimeoutSec} s`
          : 'load stop → last delta stored (JetStream timestamp)',
      details: {
        slotLagAtStopBytes: lagAtStop,
        slotConfirmedPastStopAfterSec: confirmedSec,
        loadSeconds: loadEnd,
      },
    }),
  ];
  return {
    figures,
    series: [
      {
        title: '2b. Latency at max write rate (pgbench single-row updates)',
        unit: 'ms',
        lines: [
          { label: 'p50', points: series.map((b) => [b.t, b.p50]) },
          { label: 'p99', points: series.map((b) => [b.t, b.p99]) },
        ],
        reference: { label: 'target p99', y: 250 },
      },
      {
        title: '2b. Max write rate: bench_orders deltas stored per second',
        unit: 'deltas/s',
        lines: [{ label: 'deltas/s', points: series.map((b) => [b.t, b.rate]) }],
        ...(limit ? { reference: { label: 'pgbench tps without capture', y: limit } } : {}),
      },
      {
        title: '2b. Max write rate: slot lag (pg_current_wal_lsn − confirmed_flush_lsn)',
        unit: 'MB',
        lines: [{ label: 'slot lag', points: lagPoints }],
      },
    ],
  };
}
