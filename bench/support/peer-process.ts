/**
 * The hand-written peer pipeline (bench/peers/pg-logical-replication-peer.ts) as a child process
 * draining its own slot of the backlog into its own streams (prefix `benchpeer`, configured by the
 * connector's own `desiredStreams()`), measured like the connector: changes/s from the streams' store
 * times, CPU time from /proc/<pid>/stat.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { StreamConfig } from '@nats-io/jetstream';
import { loadConfig } from '../../connector/config.js';
import { desiredStreams } from '../../connector/sink/streams.js';
import { nowMs, pollUntil, sleep, type BenchEnv } from './bench-env.js';
import { readCpuSec } from './connector-process.js';
import { ROOT } from './paths.js';
import { streamStat } from './streams.js';

export const PEER_PREFIX = 'benchpeer';
export const PEER_CLI = join(ROOT, 'dist', 'bench', 'peers', 'pg-logical-replication-peer.js');

export interface PeerRun {
  /** Changes per second: changes ÷ (last store time − first store time). */
  rate: number;
  seconds: number;
  /** Process user + system CPU seconds when the last message was stored. */
  cpuSec: number | null;
  cpuMicrosPerChange: number | null;
  /** Seconds from process start to the first message stored. */
  startupSeconds: number;
}

function streamConfigs(natsUrl: string): { facts: Partial<StreamConfig>; deltas: Partial<StreamConfig> } {
  const cfg = loadConfig({
    env: {
      SLUICE_DATABASE_URL: 'postgres://bench@127.0.0.1/bench',
      SLUICE_NATS_URL: natsUrl,
      SLUICE_PREFIX: PEER_PREFIX,
    },
  });
  const { facts, deltas } = desiredStreams(cfg);
  return { facts, deltas };
}

/** Drops the peer's streams (between runs and at the end). */
export async function dropPeerStreams(env: BenchEnv): Promise<void> {
  const s = streamConfigs(env.nats.url);
  for (const c of [s.facts, s.deltas]) await env.jsm.streams.delete(c.name!).catch(() => undefined);
}

/**
 * Runs the peer on `slot` until the streams hold `rows` facts and `rows + txs` deltas (or the
 * timeout passes: an Error with its output). Fresh streams each run.
 */
export async function runPeer(
  env: BenchEnv,
  opts: {
    databaseUrl: string;
    slot: string;
    publication: string;
    noAsyncTraces: boolean;
    rows: number;
    txs: number;
    timeoutMs: number;
  },
): Promise<PeerRun> {
  const s = streamConfigs(env.nats.url);
  await dropPeerStreams(env);
  for (const c of [s.facts, s.deltas]) await env.jsm.streams.add(c as StreamConfig);
  const started = nowMs();
  const child = spawn(process.execPath, [PEER_CLI], {
    cwd: ROOT,
    env: {
      ...process.env,
      PEER_DATABASE_URL: opts.databaseUrl,
      PEER_NATS_URL: env.nats.url,
      PEER_SLOT: opts.slot,
      PEER_PUBLICATION: opts.publication,
      PEER_PREFIX,
      PEER_NO_ASYNC_TRACES: opts.noAsyncTraces ? '1' : '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString('utf8')).slice(-16_384);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  let cpuSec: number | null = null;
  try {
    const done = await pollUntil(
      async () => {
        if (exited) return null;
        const [facts, deltas] = await Promise.all([
          streamStat(env.jsm, s.facts.name!),
          streamStat(env.jsm, s.deltas.name!),
        ]);
        if (facts.messages >= opts.rows && deltas.messages >= opts.rows + opts.txs) {
          cpuSec = readCpuSec(child.pid!);
          return { facts, deltas };
        }
        return undefined;
      },
      opts.timeoutMs,
      500,
    );
    if (!done)
      throw new Error(
        `the peer (${opts.noAsyncTraces ? 'noAsyncTraces' : 'default'}) did not drain the backlog ${exited ? '(it exited)' : 'in time'}; its output:\n${out}`,
      );
    const firstTs = done.deltas.firstTs!;
    const lastTs = Math.max(done.facts.lastTs!, done.deltas.lastTs!);
    const seconds = (lastTs - firstTs) / 1000;
    return {
      rate: opts.rows / seconds,
      seconds,
      cpuSec,
      cpuMicrosPerChange: cpuSec === null ? null : (cpuSec * 1e6) / opts.rows,
      startupSeconds: (firstTs - started) / 1000,
    };
  } finally {
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(5_000)]);
      if (!exited) child.kill('SIGKILL');
      await exit;
    }
    await dropPeerStreams(env);
  }
}
