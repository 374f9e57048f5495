/**
 * The connector as a child process (`node dist/cli/sluice.js run`), so its memory and CPU are its
 * own: resident set size sampled from /proc/<pid>/status, CPU time from /proc/<pid>/stat, and an
 * optional V8 CPU profile (`--cpu-prof`), written when the process exits after SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ROOT, SLUICE_CLI } from './paths.js';
import { pollUntil, sleep, type BenchEnv } from './bench-env.js';

export interface ConnectorOptions {
  databaseUrl: string;
  /** Default: the bench's nats-server. */
  natsUrl?: string;
  /** Replication slot; one per scenario (slots are server-wide). */
  slot: string;
  snapshot: 'initial' | 'never';
  /** Further SLUICE_* settings. */
  env?: Record<string, string>;
  /** Write a V8 CPU profile into this directory when the process exits. */
  cpuProfDir?: string;
}

export interface ConnectorProcess {
  readonly pid: number;
  readonly slot: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The last 64 KB of its stdout and stderr. */
  output(): string;
  /** Resident set size in MB, or null once it exited. */
  rssMB(): number | null;
  /** User + system CPU seconds used so far, or null once it exited. */
  cpuSec(): number | null;
  /**
   * SIGTERM: the connector drains, confirms its position and closes its replication connection.
   * Once the slot is released the process gets `releasedGraceMs` to exit on its own before it is
   * SIGKILLed (it would otherwise linger for a 10 s timer; see bench/README.md). With
   * `natural: true` it is always left to exit by itself (a CPU profile is written at exit).
   * SIGKILL after `graceMs` in any case. Idempotent.
   */
  stop(opts?: { natural?: boolean; graceMs?: number; releasedGraceMs?: number }): Promise<StopOutcome>;
}

/** How a stop went: how long the process took to release its slot and to exit, and whether it was killed. */
export interface StopOutcome {
  /** ms from SIGTERM until the slot was inactive (null: not observed). */
  releasedMs: number | null;
  /** ms from SIGTERM until the process exited. */
  exitedMs: number;
  killed: boolean;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts `sluice run`. Its log level is warn: only problems are printed (and kept in output()). */
export function spawnConnector(bench: BenchEnv, opts: ConnectorOptions): ConnectorProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_')) env[k] = v;
  Object.assign(env, {
    SLUICE_DATABASE_URL: opts.databaseUrl,
    SLUICE_NATS_URL: opts.natsUrl ?? bench.nats.url,
    SLUICE_HTTP_PORT: '0',
    SLUICE_SNAPSHOT: opts.snapshot,
    SLUICE_SLOT: opts.slot,
    SLUICE_LOG_LEVEL: 'warn',
    ...opts.env,
  });
  const args = [
    ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []),
    SLUICE_CLI,
    'run',
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString('utf8');
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const pid = child.pid!;
  let stopping: Promise<StopOutcome> | undefined;
  let exitedNow = false;
  void exited.then(() => (exitedNow = true));
  return {
    pid,
    slot: opts.slot,
    exited,
    output: () => out,
    rssMB: () => readRssMB(pid),
    cpuSec: () => readCpuSec(pid),
    stop({ natural = false, graceMs = 30_000, releasedGraceMs = 300 } = {}) {
      return (stopping ??= (async () => {
        const t0 = performance.now();
        if (exitedNow) return { releasedMs: null, exitedMs: 0, killed: false };
        child.kill('SIGTERM');
        let releasedMs: number | null = null;
        let killed = false;
        const deadline = t0 + graceMs;
        while (!exitedNow && performance.now() < deadline) {
          await Promise.race([exited, sleep(50)]);
          if (exitedNow || releasedMs !== null) continue;
          const r = await bench
            .query<{ active: boolean }>(
              'postgres',
              'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
              [opts.slot],
            )
            .catch(() => null);
          if (r && !r.rows[0]?.active) {
            releasedMs = performance.now() - t0;
            if (!natural) {
              await Promise.race([exited, sleep(releasedGraceMs)]);
              break;
            }
          }
        }
        if (!exitedNow) {
          killed = true;
          child.kill('SIGKILL');
          await exited;
        }
        return { releasedMs, exitedMs: performance.now() - t0, killed };
      })());
    },
  };
}

/** VmRSS of a process in MB, from /proc/<pid>/status; null when it is gone. */
export function readRssMB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds, from /proc/<pid>/stat; null when it is gone. */
export function readCpuSec(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Waits until the connector streams: its slot is active. Fails with its output if it exits first. */
export async function waitStreaming(env: BenchEnv, c: ConnectorProcess, timeoutMs = 60_000): Promise<void> {
  let exitCode: number | null | undefined;
  void c.exited.then((code) => (exitCode = code));
  const ok = await pollUntil(
    async () => {
      if (exitCode !== undefined) return false;
      const r = await env.query<{ active: boolean }>(
        'postgres',
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [c.slot],
      );
      return r.rows[0]?.active ? true : undefined;
    },
    timeoutMs,
    50,
  );
  if (ok !== true) {
    await c.stop({ graceMs: 2_000 });
    throw new Error(
      `the connector did not start streaming (${exitCode !== undefined ? `exited with ${exitCode}` : 'timeout'}); its output:\n${c.output()}`,
    );
  }
}

/** One RSS sample: seconds since the sampler started, MB. */
export interface RssPoint {
  t: number;
  mb: number;
}

/** Samples a process's RSS every `intervalMs` until stopped; `c` may name the current process of a supervisor. */
export function sampleRss(
  c: ConnectorProcess | (() => ConnectorProcess),
  intervalMs = 100,
): { points: RssPoint[]; peak(): number; stop(): void } {
  const current = typeof c === 'function' ? c : () => c;
  const start = performance.now();
  const points: RssPoint[] = [];
  const take = () => {
    const mb = current().rssMB();
    if (mb !== null) points.push({ t: (performance.now() - start) / 1000, mb });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    points,
    peak: () => points.reduce((m, p) => Math.max(m, p.mb), 0),
    stop: () => clearInterval(timer),
  };
}

/** An unexpected exit of a supervised connector. */
export interface ConnectorExit {
  /** Wall-clock ms of the exit. */
  atMs: number;
  code: number | null;
  /** The last line the process printed (its error). */
  lastLine: string;
}

/**
 * Runs the connector the way a process supervisor (systemd, Kubernetes) would: when it exits on its
 * own, it is started again after `restartDelayMs`. Exits are recorded, never hidden.
 */
export function superviseConnector(
  bench: BenchEnv,
  opts: ConnectorOptions,
  restartDelayMs = 1000,
): { current(): ConnectorProcess; readonly exits: ConnectorExit[]; stop(): Promise<void> } {
  const exits: ConnectorExit[] = [];
  let stopped = false;
  let proc = spawnConnector(bench, opts);
  const watch = (p: ConnectorProcess) => {
    void p.exited.then(async (code) => {
      if (stopped) return;
      const lines = p.output().trim().split('\n');
      exits.push({ atMs: Date.now(), code, lastLine: lines[lines.length - 1] ?? '' });
      await sleep(restartDelayMs);
      if (stopped) return;
      proc = spawnConnector(bench, opts);
      watch(proc);
    });
  };
  watch(proc);
  return {
    current: () => proc,
    exits,
    async stop() {
      stopped = true;
      await proc.stop();
    },
  };
}
