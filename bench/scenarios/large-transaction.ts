/**
 * Scenario 3, bounded memory, with the connector as a child process (its RSS is its own, sampled
 * from /proc/<pid>/status):
 *
 *   a. one transaction of N rows (bench_orders inserts): peak RSS while it streams through;
 *   b. NATS stopped for a while under a steady insert load (2k rows/s): RSS stays flat, the
 *      connector resumes by itself when NATS is back, and every change arrives exactly once.
 */
import type pg from 'pg';
import { CREATE_BENCH_TABLE, insertRowsOneTx } from '../support/bench-table.js';
import { nowMs, pgClient, pollUntil, sleep } from '../support/bench-env.js';
import {
  sampleRss,
  spawnConnector,
  superviseConnector,
  waitStreaming,
  type ConnectorProcess,
} from '../support/connector-process.js';
import {
  maxFigure,
  type BenchContext,
  type ScenarioOutcome,
  type ScenarioResult,
} from '../support/figures.js';
import { resetSluiceStreams, sluiceStreams } from '../support/streams.js';

const DB = 'bench_large_tx';
const SLOT = 'bench_large_tx';
const RSS_MAX_MB = 300;

export async function largeTransaction(ctx: BenchContext): Promise<ScenarioOutcome> {
  const { env } = ctx;
  await resetSluiceStreams(env.jsm);
  const url = await env.createDatabase(DB);
  const db = await pgClient(url);
  let c: ConnectorProcess | undefined;
  let supervised: Supervised | undefined;
  try {
    await db.query(CREATE_BENCH_TABLE);
    c = spawnConnector(env, { databaseUrl: url, slot: SLOT, snapshot: 'never' });
    await waitStreaming(env, c);
    const a = await oneLargeTransaction(ctx, c, db);
    await c.stop();
    supervised = superviseConnector(env, { databaseUrl: url, slot: SLOT, snapshot: 'never' });
    await waitStreaming(env, supervised.current());
    const b = await natsOutage(ctx, supervised, db, a.rows);
    return { figures: [a.figure, b.figure], series: [a.series, b.series] };
  } finally {
    await db.end();
    await c?.stop();
    await supervised?.stop();
    if (!env.nats.running) await env.nats.start();
    await env.dropDatabase(DB, SLOT);
    await resetSluiceStreams(env.jsm);
  }
}

async function oneLargeTransaction(ctx: BenchContext, c: ConnectorProcess, db: pg.Client) {
  const { env } = ctx;
  const rows = ctx.quick ? 300_000 : 1_000_000;
  await sleep(1000);
  const rss = sampleRss(c, 100);
  const baseline = c.rssMB() ?? 0;
  ctx.log(`  one transaction of ${rows} rows (connector RSS before: ${baseline.toFixed(0)} MB)`);
  const t0 = nowMs();
  await insertRowsOneTx(db, 1, rows);
  const committedSec = (nowMs() - t0) / 1000;
  const done = await pollUntil(
    async () => {
      const s = await sluiceStreams(env.jsm);
      return s.facts.messages >= rows && s.deltas.messages >= rows + 1 ? s : undefined;
    },
    ctx.quick ? 180_000 : 300_000,
    250,
  );
  await sleep(500);
  rss.stop();
  if (!done)
    throw new Error(`the large transaction did not arrive in time; connector output:\n${c.output()}`);
  const peak = rss.peak();
  const streamSec = (Math.max(done.facts.lastTs!, done.deltas.lastTs!) - done.deltas.firstTs!) / 1000;
  ctx.log(
    `  peak RSS ${peak.toFixed(0)} MB; committed in ${committedSec.toFixed(1)} s, published in ${streamSec.toFixed(1)} s (${Math.round(rows / streamSec)} changes/s)`,
  );
  const figure: ScenarioResult = maxFigure({
    name: 'large-tx-peak-rss',
    scenario: 3,
    title: `Large transaction (${rows / 1000}k rows), connector peak RSS`,
    value: peak,
    unit: 'MB',
    max: RSS_MAX_MB,
    targetText: `≤ ${RSS_MAX_MB} MB, flat`,
    details: {
      rows,
      baselineMB: baseline,
      growthMB: peak - baseline,
      commitSeconds: committedSec,
      publishSeconds: streamSec,
      changesPerSec: rows / streamSec,
      commitToLastStoredSec: (Math.max(done.facts.lastTs!, done.deltas.lastTs!) - t0) / 1000 - committedSec,
    },
  });
  return {
    rows,
    figure,
    series: {
      title: `3a. Connector RSS, one ${rows / 1000}k-row transaction (committed at 0 s)`,
      unit: 'MB',
      lines: [{ label: 'RSS', points: rss.points.map((p) => [p.t, p.mb] as [number, number]) }],
      reference: { label: `${RSS_MAX_MB} MB`, y: RSS_MAX_MB },
    },
  };
}

/** A steady insert load: `rowsPerTx` rows every `everyMs`, until stopped. */
function insertLoad(db: pg.Client, firstId: number, rowsPerTx: number, everyMs: number) {
  let stopped = false;
  let next = firstId;
  let txs = 0;
  let errors = 0;
  const run = (async () => {
    const start = performance.now();
    for (let k = 0; !stopped; k++) {
      const due = start + k * everyMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      try {
        await insertRowsOneTx(db, next, rowsPerTx);
        next += rowsPerTx;
        txs++;
      } catch {
        errors++;
      }
    }
  })();
  return {
    get rows() {
      return next - firstId;
    },
    get txs() {
      return txs;
    },
    get errors() {
      return errors;
    },
    async stop() {
      stopped = true;
      await run;
    },
  };
}

type Supervised = ReturnType<typeof superviseConnector>;

/**
 * NATS is stopped (gracefully) and started again while rows are inserted. The connector runs under
 * a supervisor: if it exits, it is restarted as systemd or Kubernetes would, and the exit is reported.
 */
async function natsOutage(ctx: BenchContext, sup: Supervised, db: pg.Client, firstRows: number) {
  const { env } = ctx;
  const outageSec = ctx.quick ? 10 : 30;
  const edgeSec = ctx.quick ? 3 : 5;
  const before = await sluiceStreams(env.jsm);
  await sleep(500);
  const baseline = sup.current().rssMB() ?? 0;
  const rss = sampleRss(() => sup.current(), 100);
  ctx.log(
    `  NATS stopped for ${outageSec} s under 2k inserts/s (connector RSS before: ${baseline.toFixed(0)} MB)`,
  );
  // Every replication session the connector opens shows as a new walsender pid on the slot.
  const walsenders = new Set<number>();
  const pidTimer = setInterval(() => {
    void env
      .query<{ pid: number | null }>(
        'postgres',
        'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
        [SLOT],
      )
      .then((r) => r.rows[0]?.pid && walsenders.add(r.rows[0].pid))
      .catch(() => undefined);
  }, 250);
  const load = insertLoad(db, firstRows + 1, 20, 10);
  await sleep(edgeSec * 1000);
  const downAt = rss.points.at(-1)?.t ?? 0;
  await env.nats.stop();
  await sleep(outageSec * 1000);
  await env.nats.start();
  const upAt = rss.points.at(-1)?.t ?? 0;
  const upMs = nowMs();
  await sleep(edgeSec * 1000);
  await load.stop();
  const wantFacts = before.facts.messages + load.rows;
  const wantDeltas = before.deltas.messages + load.rows + load.txs;
  const done = await pollUntil(
    async () => {
      const s = await sluiceStreams(env.jsm);
      return s.facts.messages >= wantFacts && s.deltas.messages >= wantDeltas ? s : undefined;
    },
    ctx.quick ? 90_000 : 150_000,
    250,
  );
  await sleep(1000);
  rss.stop();
  clearInterval(pidTimer);
  const after = await sluiceStreams(env.jsm);
  const peak = rss.peak();
  const exact = after.facts.messages === wantFacts && after.deltas.messages === wantDeltas;
  const catchUpSec = done ? (Math.max(done.facts.lastTs!, done.deltas.lastTs!) - upMs) / 1000 : null;
  const sessions = (
    sup
      .current()
      .output()
      .match(/session ended/g) ?? []
  ).length;
  const exits = sup.exits.map(
    (e) => `exit ${e.code} at ${((e.atMs - upMs) / 1000).toFixed(1)} s from NATS start: ${e.lastLine}`,
  );
  for (const e of exits) ctx.log(`  connector ${e}`);
  ctx.log(
    `  peak RSS ${peak.toFixed(0)} MB; ${load.rows} rows inserted; ${done ? `all arrived ${catchUpSec!.toFixed(1)} s after NATS came back` : 'NOT all arrived'}${exact ? ', exactly once' : `: facts ${after.facts.messages}/${wantFacts}, deltas ${after.deltas.messages}/${wantDeltas}`}`,
  );
  const figure = maxFigure({
    name: 'nats-outage-peak-rss',
    scenario: 3,
    title: `NATS down ${outageSec} s under load, connector peak RSS`,
    value: peak,
    unit: 'MB',
    max: RSS_MAX_MB,
    targetText: `≤ ${RSS_MAX_MB} MB, flat; all arrive`,
    note:
      (done
        ? `all ${load.rows} changes arrived${exact ? ' exactly once' : ' (counts differ: see details)'}, ${catchUpSec!.toFixed(1)} s after NATS returned`
        : `not all changes arrived within the timeout`) +
      (exits.length
        ? `; the connector EXITED ${exits.length}× and was restarted by the bench: ${sup.exits[0]!.lastLine.slice(0, 160)}`
        : ''),
    details: {
      baselineMB: baseline,
      growthMB: peak - baseline,
      rowsInserted: load.rows,
      transactions: load.txs,
      insertErrors: load.errors,
      allArrived: done !== null,
      exactlyOnce: exact,
      factsExpected: wantFacts,
      facts: after.facts.messages,
      deltasExpected: wantDeltas,
      deltas: after.deltas.messages,
      catchUpSec,
      sessionRestartsInLastProcess: sessions,
      connectorExits: exits.length,
      connectorExitMessages: exits.join(' | ') || null,
      replicationSessionsSeen: walsenders.size,
      connectorLogTail: done
        ? null
        : sup.current().output().trim().split('\n').slice(-6).join('\n').slice(-1500),
    },
  });
  if (figure.met !== null) figure.met = figure.met && done !== null && exact && exits.length === 0;
  return {
    figure,
    series: {
      title: `3b. Connector RSS, NATS down from ${downAt.toFixed(0)} s to ${upAt.toFixed(0)} s under 2k inserts/s`,
      unit: 'MB',
      lines: [{ label: 'RSS', points: rss.points.map((p) => [p.t, p.mb] as [number, number]) }],
      reference: { label: `${RSS_MAX_MB} MB`, y: RSS_MAX_MB },
    },
  };
}
