/** Runs PostgreSQL 15's pgbench with a custom script against a harness server. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PostgresServer } from '../../test/harness/index.js';

export const PGBENCH_BIN = '/usr/lib/postgresql/15/bin/pgbench';

export interface PgbenchOptions {
  database: string;
  script: string;
  clients: number;
  threads: number;
  seconds: number;
}

export interface PgbenchResult {
  /** Transactions per second, without the initial connection time. */
  tps: number;
  transactions: number;
  failed: number;
  /** Wall-clock ms (epoch) when pgbench exited: the load stopped. */
  endedAtMs: number;
  output: string;
}

/** Runs pgbench (-n, prepared statements) to completion and parses its summary. */
export async function runPgbench(server: PostgresServer, o: PgbenchOptions): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-pgbench-'));
  const scriptFile = join(dir, 'script.sql');
  writeFileSync(scriptFile, o.script);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  const args = [
    ...['-h', server.host, '-p', String(server.port), '-U', 'postgres'],
    ...['-n', '-M', 'prepared', '-c', String(o.clients), '-j', String(o.threads), '-T', String(o.seconds)],
    ...['-f', scriptFile, o.database],
  ];
  try {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(PGBENCH_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
      child.once('error', reject);
      child.once('exit', (c) => resolve({ code: c, output: out }));
    });
    const endedAtMs = Date.now();
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
    const txs = /number of transactions actually processed: (\d+)/.exec(output);
    const failed = /number of failed transactions: (\d+)/.exec(output);
    if (code !== 0 || !tps || !txs) throw new Error(`pgbench failed (exit ${code}):\n${output}`);
    return {
      tps: Number(tps[1]),
      transactions: Number(txs[1]),
      failed: failed ? Number(failed[1]) : 0,
      endedAtMs,
      output,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
