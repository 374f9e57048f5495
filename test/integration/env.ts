/**
 * A Sluice test environment: a harness PostgreSQL and nats-server, a database, and the connector
 * run in-process (fast) or as a child process (`sluice run`, for kill -9 tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  eventually,
  readStream,
  startNats,
  startPostgres,
  type NatsServer,
  type PostgresServer,
  type StreamMessage,
} from '../harness/index.js';
import { loadConfig, type Config } from '../../connector/config.js';
import { Connector } from '../../connector/connector.js';
import { silentLogger, createLogger } from '../../connector/logger.js';
import { streamNames } from '../../schemas/subjects.js';

export interface SluiceEnv {
  pg: PostgresServer;
  nats: NatsServer;
  dbUrl: string;
  nc: NatsConnection;
  env: Record<string, string>;
  config(extra?: Record<string, string>): Config;
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** Starts the connector in this process. */
  startConnector(extra?: Record<string, string>): RunningConnector;
  /**
   * Starts `sluice run` as a child process: from source through tsx, or with `compiled` the built
   * `dist/cli/sluice.js` a user runs (for measuring its memory; CI builds it before the tests).
   */
  spawnConnector(extra?: Record<string, string>, opts?: { compiled?: boolean }): ChildConnector;
  facts(prefix?: string): Promise<StreamMessage[]>;
  deltas(prefix?: string): Promise<StreamMessage[]>;
  close(): Promise<void>;
}

export interface RunningConnector {
  connector: Connector;
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface ChildConnector {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function startEnv(opts: { pgVersion?: 15 | 17; natsArgs?: string[] } = {}): Promise<SluiceEnv> {
  const [pgServer, nats] = await Promise.all([
    startPostgres(opts.pgVersion ? { version: opts.pgVersion } : {}),
    startNats(opts.natsArgs ? { args: opts.natsArgs } : {}),
  ]);
  const dbUrl = await pgServer.createDatabase();
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
  pool.on('error', () => undefined);
  const env = {
    SLUICE_DATABASE_URL: dbUrl,
    SLUICE_NATS_URL: nats.url,
    SLUICE_HTTP_PORT: '0',
    SLUICE_LOG_LEVEL: process.env.SLUICE_TEST_LOG ?? 'warn',
    // Every event the connector publishes in a test is checked against the contract; a mismatch
    // ends the session (and the test sees the connector fail).
    SLUICE_VALIDATE_EVENTS: process.env.SLUICE_VALIDATE_EVENTS ?? 'fail',
  };
  const running: RunningConnector[] = [];
  const children: ChildConnector[] = [];
  const self: SluiceEnv = {
    pg: pgServer,
    nats,
    dbUrl,
    nc,
    env,
    config: (extra = {}) => loadConfig({ env: { ...env, ...extra } }),
    sql: (text, params) => pool.query(text, params),
    startConnector(extra = {}) {
      const cfg = self.config(extra);
      const log = process.env.SLUICE_TEST_LOG
        ? createLogger(process.env.SLUICE_TEST_LOG, { pretty: false })
        : silentLogger();
      const connector = new Connector(cfg, log);
      const abort = new AbortController();
      const done = connector.run(abort.signal);
      const r: RunningConnector = {
        connector,
        done,
        stop: async () => {
          abort.abort();
          await done;
        },
      };
      running.push(r);
      return r;
    },
    spawnConnector(extra = {}, opts = {}) {
      const entry = join(ROOT, 'dist/cli/sluice.js');
      if (opts.compiled && !existsSync(entry)) {
        throw new Error(`${entry} does not exist: run "npm run build" first`);
      }
      const args = opts.compiled ? [entry, 'run'] : ['--import', 'tsx', 'cli/sluice.ts', 'run'];
      const child = spawn(process.execPath, args, {
        cwd: ROOT,
        env: { ...process.env, ...env, ...extra, SLUICE_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const c: ChildConnector = {
        child,
        output: () => out,
        exited,
        kill: async (signal = 'SIGKILL') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      };
      children.push(c);
      return c;
    },
    facts: (prefix = 'cdc') => readStream(nc, streamNames(prefix).facts),
    deltas: (prefix = 'cdc') => readStream(nc, streamNames(prefix).deltas),
    async close() {
      for (const r of running) await r.stop().catch(() => undefined);
      for (const c of children) await c.kill('SIGKILL');
      await nc.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await Promise.all([pgServer.close(), nats.close()]);
    },
  };
  return self;
}

/** Latest fact per subject, as parsed data, excluding deleted ones and truncate markers. */
export function liveFacts(msgs: StreamMessage[]): Map<string, FactLike> {
  const out = new Map<string, FactLike>();
  for (const m of msgs) {
    const d = (m.data as { data: FactLike }).data;
    if (d.deleted) out.delete(m.subject);
    else out.set(m.subject, d);
  }
  return out;
}

export interface FactLike {
  table: string;
  key: Record<string, unknown>;
  op: string;
  deleted: boolean;
  row: Record<string, unknown> | null;
  version: string;
  schemaVersion: number;
  tx: { id: number; lsn: string; commitTime: string; seq: number } | null;
}

export interface DeltaLike {
  table: string;
  key: Record<string, unknown> | null;
  op: string;
  changes: Record<string, { old?: unknown; new?: unknown }>;
  version: string;
  schemaVersion: number;
  tx: { id: number; lsn: string; commitTime: string; seq: number };
}

/** Waits until the deltas stream holds at least `n` messages matching `filter`. */
export async function waitForDeltas(
  env: SluiceEnv,
  n: number,
  filter = 'cdc.delta.>',
): Promise<StreamMessage[]> {
  return eventually(
    async () => {
      const msgs = (await env.deltas()).filter((m) => subjectMatches(filter, m.subject));
      if (msgs.length < n) throw new Error(`have ${msgs.length} deltas matching ${filter}, want ${n}`);
      return msgs;
    },
    { timeout: 60_000, interval: 200, message: `${n} deltas on ${filter}` },
  );
}

/** NATS wildcard matching of one subject. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
