/**
 * Scenario 1, backlog drain: N changes (bench_orders inserts, 100 per transaction) are committed
 * while the connector is stopped; then it starts. The rate is taken from the streams themselves:
 * N ÷ (store time of the last message − store time of the first), both stamped by JetStream.
 *
 * Limit: JetStream ingest ÷ messages per change (a fact, a delta and 1/100 of a commit marker).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREATE_BENCH_TABLE, insertRowsBatched } from '../support/bench-table.js';
import { nowMs, pgClient, pollUntil, sleep } from '../support/bench-env.js';
import { sampleRss, spawnConnector, waitStreaming } from '../support/connector-process.js';
import { newestProfile, summarizeProfile, type ProfileSummary } from '../support/cpu-profile.js';
import {
  ratioFigure,
  type BenchContext,
  type ScenarioOutcome,
  type ScenarioResult,
} from '../support/figures.js';
import { runPeer, type PeerRun } from '../support/peer-process.js';
import { RESULTS_DIR } from '../support/paths.js';
import { BACKLOG_TX_ROWS } from '../support/sample-events.js';
import { ratesOf } from '../support/series.js';
import { resetSluiceStreams, sluiceStreams } from '../support/streams.js';

const DB = 'bench_backlog';
const SLOT = 'bench_backlog';
/** The hand-written peer's publication and slots (one per variant) over the same backlog. */
const PEER_PUBLICATION = 'bench_peer';
const PEER_SLOTS = { default: 'bench_peer_default', noAsyncTraces: 'bench_peer_no_async_traces' };
/** The goal of issue 16: Sluice drains at least this many times faster than the faster peer. */
const PEER_GOAL = 3;

export async function backlogDrain(
  ctx: BenchContext,
): Promise<ScenarioOutcome & { profile?: ProfileSummary }> {
  const { env } = ctx;
  const rows = ctx.quick ? 200_000 : 1_000_000;
  const txs = rows / BACKLOG_TX_ROWS;
  await resetSluiceStreams(env.jsm);
  const url = await env.createDatabase(DB);
  const profDir = ctx.profile ? mkdtempSync(join(tmpdir(), 'sluice-bench-prof-')) : undefined;
  try {
    await env.query(DB, CREATE_BENCH_TABLE);
    // A first run creates the publication, the slot and the streams; then the backlog piles up.
    const setup = spawnConnector(env, { databaseUrl: url, slot: SLOT, snapshot: 'never' });
    await waitStreaming(env, setup);
    await setup.stop();
    // The peer reads the same backlog through its own publication and slots, created before it.
    await env.query(DB, `CREATE PUBLICATION ${PEER_PUBLICATION} FOR TABLE public.bench_orders`);
    for (const slot of Object.values(PEER_SLOTS))
      await env.query(DB, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    ctx.log(`  committing ${rows} changes in ${txs} transactions while the connector is stopped`);
    const db = await pgClient(url);
    try {
      await insertRowsBatched(db, 1, rows, BACKLOG_TX_ROWS);
      await db.query('CHECKPOINT');
    } finally {
      await db.end();
    }
    const lagBefore = await env.query<{ lag: string }>(
      'postgres',
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 AS lag FROM pg_replication_slots WHERE slot_name = $1`,
      [SLOT],
    );
    const wantFacts = rows;
    const wantDeltas = rows + txs;

    const startedMs = nowMs();
    const c = spawnConnector(env, {
      databaseUrl: url,
      slot: SLOT,
      snapshot: 'never',
      ...(profDir ? { cpuProfDir: profDir } : {}),
    });
    const rss = sampleRss(c, 250);
    const counts: [number, number][] = [];
    let cpuAtFirst: { cpu: number | null; facts: number } | undefined;
    const done = await pollUntil(
      async () => {
        const s = await sluiceStreams(env.jsm);
        counts.push([(nowMs() - startedMs) / 1000, s.facts.messages]);
        // CPU time from the first poll that saw stored facts: the steady state, without start-up.
        if (s.facts.messages > 0 && s.facts.messages < wantFacts && !cpuAtFirst)
          cpuAtFirst = { cpu: c.cpuSec(), facts: s.facts.messages };
        return s.facts.messages >= wantFacts && s.deltas.messages >= wantDeltas ? s : undefined;
      },
      ctx.quick ? 600_000 : 1_200_000,
      500,
    );
    rss.stop();
    const cpuSec = c.cpuSec();
    await sleep(200);
    // With --profile the process must exit by itself: V8 writes the profile at exit.
    const stopped = await c.stop({ natural: profDir !== undefined });
    if (!done) throw new Error(`the backlog did not drain in time; connector output:\n${c.output()}`);
    const firstTs = done.deltas.firstTs!;
    const lastTs = Math.max(done.facts.lastTs!, done.deltas.lastTs!);
    const seconds = (lastTs - firstTs) / 1000;
    const rate = rows / seconds;
    const ingest = ctx.limits.get('jetstream-ingest')?.value ?? null;
    const perChange = 2 + 1 / BACKLOG_TX_ROWS;
    const limit = ingest === null ? null : ingest / perChange;
    const decode = ctx.limits.get('postgres-decode')?.value ?? null;
    ctx.log(
      `  drained ${rows} changes in ${seconds.toFixed(2)} s: ${Math.round(rate)} changes/s (${(rate * perChange).toFixed(0)} msg/s), peak RSS ${rss.peak().toFixed(0)} MB`,
    );

    const cpuMicrosPerChange = cpuSec === null ? null : (cpuSec * 1e6) / rows;
    const steadyCpuMicrosPerChange =
      cpuSec !== null && cpuAtFirst?.cpu != null
        ? ((cpuSec - cpuAtFirst.cpu) * 1e6) / (rows - cpuAtFirst.facts)
        : null;
    ctx.log(
      `  connector CPU: ${cpuSec ?? '?'} s, ${cpuMicrosPerChange?.toFixed(1) ?? '?'} µs per change (${steadyCpuMicrosPerChange?.toFixed(1) ?? '?'} µs in the steady state)`,
    );
    const peers: { label: string; run: PeerRun }[] = [];
    for (const [variant, slot] of ctx.noPeer ? [] : Object.entries(PEER_SLOTS)) {
      const noAsyncTraces = variant === 'noAsyncTraces';
      const label = `pg-logical-replication + js.publish()${noAsyncTraces ? ' (noAsyncTraces)' : ''}`;
      ctx.log(`  peer: ${label} draining the same backlog`);
      const run = await runPeer(env, {
        databaseUrl: url,
        slot,
        publication: PEER_PUBLICATION,
        noAsyncTraces,
        rows,
        txs,
        timeoutMs: ctx.quick ? 400_000 : 1_200_000,
      });
      ctx.log(
        `  peer drained ${rows} changes in ${run.seconds.toFixed(2)} s: ${Math.round(run.rate)} changes/s, ${run.cpuMicrosPerChange?.toFixed(1) ?? '?'} µs CPU per change`,
      );
      peers.push({ label, run });
    }
    const best = peers.length ? peers.reduce((a, b) => (b.run.rate > a.run.rate ? b : a)) : null;
    const peerFigures: ScenarioResult[] = peers.map(({ label, run }, i) => ({
      name: i === 0 ? 'peer-backlog-drain' : 'peer-backlog-drain-no-async-traces',
      scenario: 1,
      title: `Peer: ${label}`,
      value: run.rate,
      unit: 'changes/s',
      limit,
      ratio: limit ? run.rate / limit : null,
      target: 'context',
      met: null,
      note: 'the pipeline a user would write by hand (bench/peers/), same backlog, own slot and streams',
      details: {
        seconds: run.seconds,
        startupSeconds: run.startupSeconds,
        cpuSeconds: run.cpuSec,
        cpuMicrosPerChange: run.cpuMicrosPerChange,
        window: 256,
      },
    }));
    const vsPeer = best ? rate / best.run.rate : null;
    if (best && vsPeer !== null)
      peerFigures.push({
        name: 'backlog-drain-vs-peer',
        scenario: 1,
        title: 'Backlog drain: Sluice ÷ the faster peer',
        value: vsPeer,
        unit: '×',
        limit: null,
        ratio: null,
        target: `≥ ${PEER_GOAL}×`,
        met: vsPeer >= PEER_GOAL,
        note: `faster peer: ${best.label}`,
        details: {
          sluiceChangesPerSecond: rate,
          peerChangesPerSecond: best.run.rate,
          sluiceCpuMicrosPerChange: cpuMicrosPerChange,
          peerCpuMicrosPerChange: best.run.cpuMicrosPerChange,
          cpuPerChangeRatio:
            cpuMicrosPerChange && best.run.cpuMicrosPerChange
              ? best.run.cpuMicrosPerChange / cpuMicrosPerChange
              : null,
        },
      });

    let profile: ProfileSummary | undefined;
    if (profDir) {
      const file = newestProfile(profDir);
      if (file) {
        const kept = join(RESULTS_DIR, 'backlog-drain.cpuprofile');
        copyFileSync(file, kept);
        profile = summarizeProfile(kept);
      }
    }
    return {
      figures: [
        ratioFigure({
          name: 'backlog-drain',
          scenario: 1,
          title: `Backlog drain (${rows / 1000}k changes)`,
          value: rate,
          unit: 'changes/s',
          limit,
          minRatio: 0.8,
          note: `limit = JetStream ingest ÷ ${perChange} messages per change${profDir ? '; run under --cpu-prof' : ''}`,
          details: {
            changes: rows,
            transactions: txs,
            seconds,
            messagesPerSecond: rate * perChange,
            secondsFromProcessStart: (lastTs - startedMs) / 1000,
            startupSeconds: (firstTs - startedMs) / 1000,
            backlogWalBytes: Number(lagBefore.rows[0]?.lag ?? 0),
            connectorCpuSeconds: cpuSec,
            connectorCpuPerSecond: cpuSec === null ? null : cpuSec / ((lastTs - startedMs) / 1000),
            connectorCpuMicrosPerChange: cpuMicrosPerChange,
            connectorSteadyCpuMicrosPerChange: steadyCpuMicrosPerChange,
            peakRssMB: rss.peak(),
            sigtermToSlotReleasedMs: stopped.releasedMs,
            sigtermToExitMs: stopped.exitedMs,
            postgresDecodeLimit: decode,
            ratioToDecode: decode ? rate / decode : null,
          },
        }),
        ...peerFigures,
      ],
      series: [
        {
          title: `1. Backlog drain (${rows / 1000}k changes): throughput`,
          unit: 'changes/s',
          lines: [{ label: 'Sluice (facts stored/s)', points: ratesOf(counts) }],
          ...(limit !== null ? { reference: { label: 'limit', y: limit } } : {}),
        },
      ],
      ...(profile ? { profile } : {}),
    };
  } finally {
    await env.dropDatabase(DB, [SLOT, ...Object.values(PEER_SLOTS)]);
    await resetSluiceStreams(env.jsm);
    if (profDir) rmSync(profDir, { recursive: true, force: true });
  }
}
