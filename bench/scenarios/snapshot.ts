/**
 * Scenario 4, snapshot: the connector starts with SLUICE_SNAPSHOT=initial on a database that already
 * holds N bench_orders rows (and a small shop). Rows/s comes from the connector's own progress
 * record (the CDC_SNAPSHOTS KV entry: rows done, start and finish times), cross-checked with the
 * growth of the facts stream. Limit: JetStream ingest (one fact per row).
 *
 * While bench_orders is being snapshotted, shop traffic runs at a modest rate; afterwards the same
 * traffic runs as long again with the connector only streaming. The application's p99 latency of the
 * two runs is compared.
 */
import { runTraffic, seedShop, type TrafficStats } from '../../examples/shop/index.js';
import type { SnapshotState } from '../../connector/sink/snapshot-store.js';
import { CREATE_BENCH_TABLE, insertRowsOneTx } from '../support/bench-table.js';
import { nowMs, pgClient, pollUntil } from '../support/bench-env.js';
import { spawnConnector, waitStreaming, type ConnectorProcess } from '../support/connector-process.js';
import { maxFigure, ratioFigure, type BenchContext, type ScenarioOutcome } from '../support/figures.js';
import { ratesOf } from '../support/series.js';
import { snapshotProgress } from '../support/snapshots.js';
import { resetSluiceStreams, sluiceStreams } from '../support/streams.js';

const DB = 'bench_snapshot';
const SLOT = 'bench_snapshot';
const TABLE = 'public.bench_orders';
const APP_RATE = 500;
const CHUNK_ROWS = 100_000;

export async function snapshotScenario(ctx: BenchContext): Promise<ScenarioOutcome> {
  const { env } = ctx;
  const rows = ctx.quick ? 200_000 : 1_000_000;
  await resetSluiceStreams(env.jsm);
  const url = await env.createDatabase(DB);
  let c: ConnectorProcess | undefined;
  try {
    await seedShop(url, { customers: ctx.quick ? 1000 : 2000, seed: 1 });
    const db = await pgClient(url);
    try {
      await db.query(CREATE_BENCH_TABLE);
      for (let first = 1; first <= rows; first += CHUNK_ROWS) {
        await insertRowsOneTx(db, first, Math.min(CHUNK_ROWS, rows - first + 1));
      }
      await db.query('VACUUM ANALYZE');
      await db.query('CHECKPOINT');
    } finally {
      await db.end();
    }
    ctx.log(`  ${rows} rows in ${TABLE}; starting the connector with SLUICE_SNAPSHOT=initial`);
    const startedMs = nowMs();
    c = spawnConnector(env, { databaseUrl: url, slot: SLOT, snapshot: 'initial' });
    await waitStreaming(env, c);
    const progress = await snapshotProgress(env.nc);
    let slowestPollMs = 0;
    const stateOf = async (): Promise<SnapshotState | null> => {
      const t = performance.now();
      try {
        return await progress.get(TABLE);
      } finally {
        slowestPollMs = Math.max(slowestPollMs, performance.now() - t);
      }
    };
    const running = await pollUntil(
      async () => {
        const s = await stateOf();
        return s && s.status !== 'pending' ? s : undefined;
      },
      120_000,
      50,
    );
    if (!running) throw new Error(`the snapshot of ${TABLE} did not start; connector output:\n${c.output()}`);
    const runningSeenMs = nowMs();

    // Traffic while bench_orders is being snapshotted.
    const counts: [number, number][] = [];
    const poll = setInterval(() => {
      void sluiceStreams(env.jsm)
        .then((s) => counts.push([(nowMs() - startedMs) / 1000, s.facts.messages]))
        .catch(() => undefined);
    }, 500);
    const abort = new AbortController();
    const during = runTraffic(url, { rate: APP_RATE, durationSec: 3600, seed: 3, signal: abort.signal });
    const done = await pollUntil(
      async () => {
        const s = await stateOf();
        return s?.status === 'done' ? s : undefined;
      },
      ctx.quick ? 180_000 : 600_000,
      100,
    );
    const doneSeenMs = nowMs();
    abort.abort();
    let withSnapshot: TrafficStats;
    try {
      withSnapshot = await during;
    } finally {
      clearInterval(poll);
    }
    if (!done)
      throw new Error(`the snapshot of ${TABLE} did not finish in time; connector output:\n${c.output()}`);
    const seconds = (Date.parse(done.finishedAt!) - Date.parse(done.startedAt!)) / 1000;
    const rate = done.rowsDone / seconds;
    ctx.log(
      `  snapshot: ${done.rowsDone} rows in ${seconds.toFixed(1)} s = ${Math.round(rate)} rows/s; app p99 ${withSnapshot.latencyMs.p99.toFixed(2)} ms during it`,
    );

    // The same traffic again, as long, with the connector only streaming.
    await progress.waitAllDone(120_000);
    const without = await runTraffic(url, {
      rate: APP_RATE,
      durationSec: Math.max(5, withSnapshot.elapsedSec),
      seed: 4,
    });
    const overhead = (withSnapshot.latencyMs.p99 / without.latencyMs.p99 - 1) * 100;
    ctx.log(
      `  app p99 without a snapshot: ${without.latencyMs.p99.toFixed(2)} ms (${overhead.toFixed(0)} %)`,
    );
    const ingest = ctx.limits.get('jetstream-ingest')?.value ?? null;
    return {
      figures: [
        ratioFigure({
          name: 'snapshot-rate',
          scenario: 4,
          title: `Snapshot (${rows / 1000}k rows)`,
          value: rate,
          unit: 'rows/s',
          limit: ingest,
          minRatio: 0.8,
          note: 'connector progress record (KV); limit = JetStream ingest, one fact per row',
          details: {
            rows: done.rowsDone,
            seconds,
            reportedRate: done.rate,
            // How promptly the bench saw the KV progress (traffic starts/stops on it).
            runningSeenAfterSec: (runningSeenMs - Date.parse(done.startedAt!)) / 1000,
            doneSeenAfterSec: (doneSeenMs - Date.parse(done.finishedAt!)) / 1000,
            slowestProgressPollMs: slowestPollMs,
            appTrafficChangesPerSec: withSnapshot.achievedRate,
          },
        }),
        maxFigure({
          name: 'snapshot-app-p99-overhead',
          scenario: 4,
          title: 'App p99 with snapshot vs without',
          value: overhead,
          unit: '%',
          max: 10,
          targetText: '≤ +10 %',
          note: `runTraffic at ${APP_RATE} changes/s, ${withSnapshot.elapsedSec.toFixed(0)} s each: p99 ${withSnapshot.latencyMs.p99.toFixed(2)} vs ${without.latencyMs.p99.toFixed(2)} ms`,
          details: {
            p99WithSnapshotMs: withSnapshot.latencyMs.p99,
            p99WithoutMs: without.latencyMs.p99,
            p50WithSnapshotMs: withSnapshot.latencyMs.p50,
            p50WithoutMs: without.latencyMs.p50,
            opsWithSnapshot: withSnapshot.ops,
            opsWithout: without.ops,
            seconds: withSnapshot.elapsedSec,
          },
        }),
      ],
      series: [
        {
          title: `4. Snapshot of ${rows / 1000}k rows: facts stored per second (connector started at 0 s)`,
          unit: 'facts/s',
          lines: [{ label: 'facts/s', points: ratesOf(counts) }],
          ...(ingest !== null ? { reference: { label: 'JetStream ingest', y: ingest } } : {}),
        },
      ],
    };
  } finally {
    await c?.stop();
    await env.dropDatabase(DB, SLOT);
    await resetSluiceStreams(env.jsm);
  }
}
