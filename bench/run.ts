/**
 * `npm run bench [-- --quick] [-- --only <scenario>] [-- --profile]`: measures the machine's limits
 * and then Sluice's scenarios, in one run, on servers the bench starts itself; prints a table and
 * writes bench/results/latest.json, a dated copy, and an SVG chart. Nothing asserts a speed: the
 * exit code is non-zero only when a limit or scenario could not be measured.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { closeAll } from '../test/harness/index.js';
import { measureJetStreamIngest } from './limits/jetstream-ingest.js';
import { measurePostgresDecode } from './limits/postgres-decode.js';
import { measurePostgresWrite } from './limits/postgres-write.js';
import { backlogDrain } from './scenarios/backlog-drain.js';
import { latencyUnderLoad } from './scenarios/latency.js';
import { largeTransaction } from './scenarios/large-transaction.js';
import { snapshotScenario } from './scenarios/snapshot.js';
import { formatReport, writeReport, type BenchReport } from './report.js';
import { startBenchEnv } from './support/bench-env.js';
import type { ProfileSummary } from './support/cpu-profile.js';
import {
  failedFigure,
  type BenchContext,
  type LimitResult,
  type ScenarioOutcome,
  type ScenarioResult,
  type Series,
} from './support/figures.js';
import { RESULTS_DIR } from './support/paths.js';
import { captureSampleEvents } from './support/sample-events.js';

const HELP = `usage: npm run bench [-- options]

  --quick            shorter run (≤ 4 min): smaller backlogs and shorter loads
  --only <what>      limits | backlog (1) | latency (2) | large-tx (3) | snapshot (4);
                     a scenario also measures the limits it is compared with
  --profile          run scenario 1's connector under --cpu-prof and print its top frames
  --no-peer          skip the hand-written peer pipeline in scenario 1 (faster iterations)
  --help             this text

Run \`npm run build\` first: the bench runs from dist/. Results: bench/results/latest.json,
latest.svg, and dated copies.
`;

type LimitKey = 'jetstream-ingest' | 'postgres-decode' | 'postgres-write-rate';

interface ScenarioSpec {
  key: string;
  n: number;
  title: string;
  needs: LimitKey[];
  run(ctx: BenchContext): Promise<ScenarioOutcome & { profile?: ProfileSummary }>;
}

const SCENARIOS: ScenarioSpec[] = [
  {
    key: 'backlog',
    n: 1,
    title: 'Backlog drain',
    needs: ['jetstream-ingest', 'postgres-decode'],
    run: backlogDrain,
  },
  {
    key: 'latency',
    n: 2,
    title: 'Latency under load',
    needs: ['postgres-write-rate'],
    run: latencyUnderLoad,
  },
  { key: 'large-tx', n: 3, title: 'Large transaction and NATS outage', needs: [], run: largeTransaction },
  { key: 'snapshot', n: 4, title: 'Snapshot', needs: ['jetstream-ingest'], run: snapshotScenario },
];

/** Scenarios of the issue that have nothing to measure yet: listed, never given a placeholder figure. */
const NOT_BUILT: ScenarioResult[] = [
  {
    name: 'read-model',
    scenario: 5,
    title: 'Read model',
    value: null,
    unit: 'events/s',
    limit: null,
    ratio: null,
    target: 'not defined yet',
    met: null,
    note: 'not measured yet: the read-model projector is not built',
  },
  {
    name: 'consumer-runtime',
    scenario: 6,
    title: 'Consumer runtime',
    value: null,
    unit: 'events/s',
    limit: null,
    ratio: null,
    target: 'not defined yet',
    met: null,
    note: 'not measured yet: the consumer runtime is not built',
  },
];

function parse(
  argv: string[],
): { quick: boolean; only: string | null; profile: boolean; noPeer: boolean } | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'no-peer': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  let only: string | null = null;
  if (values.only !== undefined) {
    const o = values.only.trim();
    const spec = SCENARIOS.find((s) => s.key === o || String(s.n) === o);
    if (o !== 'limits' && !spec) {
      throw new Error(
        `--only: expected limits, ${SCENARIOS.map((s) => `${s.key} (${s.n})`).join(', ')}; got "${o}"`,
      );
    }
    only = spec?.key ?? 'limits';
  }
  return { quick: values.quick, only, profile: values.profile, noPeer: values['no-peer'] };
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(HELP);
    return 0;
  }
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const log = (line: string) =>
    process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  const scenarios = SCENARIOS.filter((s) => opts.only === null || s.key === opts.only);
  const needed = new Set<LimitKey>(
    opts.only === 'limits' || opts.only === null
      ? ['jetstream-ingest', 'postgres-decode', 'postgres-write-rate']
      : scenarios.flatMap((s) => s.needs),
  );

  log(`starting PostgreSQL and nats-server (${opts.quick ? 'quick' : 'full'} run)`);
  const env = await startBenchEnv();
  const ctx: BenchContext = {
    env,
    quick: opts.quick,
    profile: opts.profile,
    noPeer: opts.noPeer,
    limits: new Map<string, LimitResult>(),
    sample: null,
    log,
  };
  const errors: string[] = [];
  const figures: ScenarioResult[] = [];
  const series: Series[] = [];
  let profile: ProfileSummary | undefined;
  /** Tags every figure with the 1-minute load average when its measurement began (noise indicator). */
  const tag = <T extends { details?: Record<string, unknown> }>(items: T[], load: number): T[] => {
    for (const i of items) i.details = { ...i.details, loadAverageAtStart: Number(load.toFixed(2)) };
    return items;
  };
  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      const msg = `${what}: ${e instanceof Error ? e.message : String(e)}`;
      errors.push(msg.split('\n')[0]!);
      log(`FAILED ${msg}`);
      return null;
    }
  };
  try {
    log(
      `machine: ${env.machine.cores} cores, PostgreSQL ${env.machine.postgres}, nats-server ${env.machine.natsServer}`,
    );
    if (needed.has('jetstream-ingest')) {
      log('limit: JetStream ingest (capturing real events first)');
      ctx.sample = await attempt('sample events', () => captureSampleEvents(ctx));
      if (ctx.sample) {
        const load = loadavg()[0]!;
        const r = await attempt('limit jetstream-ingest', () => measureJetStreamIngest(ctx));
        for (const l of tag(r ?? [], load)) ctx.limits.set(l.name, l);
      }
    }
    if (needed.has('postgres-decode')) {
      log('limit: PostgreSQL decode');
      const load = loadavg()[0]!;
      const r = await attempt('limit postgres-decode', () => measurePostgresDecode(ctx));
      if (r) ctx.limits.set(r.name, tag([r], load)[0]!);
    }
    if (needed.has('postgres-write-rate')) {
      log('limit: PostgreSQL write rate (pgbench)');
      const load = loadavg()[0]!;
      const r = await attempt('limit postgres-write-rate', () => measurePostgresWrite(ctx));
      if (r) ctx.limits.set(r.name, tag([r], load)[0]!);
    }
    for (const s of scenarios) {
      log(`scenario ${s.n}: ${s.title}`);
      const load = loadavg()[0]!;
      const out = await attempt(`scenario ${s.n} (${s.key})`, () => s.run(ctx));
      if (out) {
        figures.push(...tag(out.figures, load));
        series.push(...out.series);
        if (out.profile) profile = out.profile;
      } else {
        figures.push(failedFigure(s.key, s.n, s.title, '', '—', errors.at(-1)));
      }
    }
  } finally {
    await env.close();
    await closeAll().catch(() => undefined);
  }
  if (opts.only === null) figures.push(...NOT_BUILT);

  const report: BenchReport = {
    version: 1,
    mode: opts.quick ? 'quick' : 'full',
    only: opts.only,
    startedAt,
    finishedAt: new Date().toISOString(),
    durationSec: (performance.now() - t0) / 1000,
    machine: env.machine,
    limits: [...ctx.limits.values()],
    scenarios: figures,
    ...(profile ? { profile } : {}),
    errors,
    series,
  };
  process.stdout.write(formatReport(report) + '\n');
  const files = writeReport(RESULTS_DIR, report);
  process.stdout.write(`\nwrote ${files.join(', ')}\n`);
  return errors.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
