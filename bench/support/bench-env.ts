/**
 * The servers one bench run measures on: a harness PostgreSQL 15 and nats-server (real processes
 * on free loopback ports, in temp dirs), a bench NATS connection, and the per-scenario database,
 * slot and stream housekeeping. Everything a run measures shares these two servers.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import pg from 'pg';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startNats, startPostgres, type NatsServer, type PostgresServer } from '../../test/harness/index.js';
import { ROOT } from './paths.js';

/** PostgreSQL settings of the bench server, on top of the harness defaults (fsync off, 128 MB buffers). */
export const BENCH_PG_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  // Backlogs of a million rows must not trigger checkpoints in the middle of a measurement.
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  shared_buffers: '256MB',
});

/** The machine the figures were measured on. */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryMB: number;
  os: string;
  node: string;
  postgres: string;
  natsServer: string;
  /** 1-minute load average when the run started: above ~0.5 other work shared the machine. */
  loadAverageAtStart: number;
  /** The commit measured, and whether connector/, cli/ or schemas/ had uncommitted changes. */
  revision: { commit: string; dirty: boolean } | null;
}

function revision(): MachineInfo['revision'] {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return {
      commit: git('rev-parse', '--short', 'HEAD').trim(),
      dirty: git('status', '--porcelain', '--', 'connector', 'cli', 'schemas').trim() !== '',
    };
  } catch {
    return null;
  }
}

export interface BenchEnv {
  readonly pg: PostgresServer;
  readonly nats: NatsServer;
  /** The bench's own NATS connection (reconnects forever: scenario 3 stops the server). */
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly machine: MachineInfo;
  /** Creates (after dropping a leftover) a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs one statement as `postgres` on a database (a fresh connection). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    database: string,
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** Drops the slots (if any) and the database. */
  dropDatabase(name: string, slots?: string | readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export async function startBenchEnv(): Promise<BenchEnv> {
  const [pgServer, nats] = await Promise.all([
    startPostgres({ version: 15, settings: { ...BENCH_PG_SETTINGS } }),
    startNats(),
  ]);
  const nc = await connect({
    servers: nats.url,
    name: 'sluice-bench',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  const jsm = await jetstreamManager(nc, { timeout: 15_000 });
  const version = await pgServer.query<{ server_version: string }>('SHOW server_version');
  const cpuList = cpus();
  const machine: MachineInfo = {
    cores: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    memoryMB: Math.round(totalmem() / 2 ** 20),
    os: `${osType()} ${release()}`,
    node: process.version,
    postgres: version.rows[0]!.server_version,
    natsServer: nc.info?.version ?? 'unknown',
    loadAverageAtStart: loadavg()[0]!,
    revision: revision(),
  };
  const query: BenchEnv['query'] = (database, sql, params) => pgServer.query(sql, params, database);
  return {
    pg: pgServer,
    nats,
    nc,
    jsm,
    machine,
    query,
    async createDatabase(name) {
      await pgServer.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return pgServer.createDatabase(name);
    },
    async dropDatabase(name, slots) {
      for (const slot of typeof slots === 'string' ? [slots] : (slots ?? [])) {
        // A walsender may still hold the slot for a moment after its client went away: end it.
        await pollUntil(async () => {
          const r = await pgServer.query<{ active_pid: number | null }>(
            'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
            [slot],
          );
          const row = r.rows[0];
          if (!row) return true;
          if (row.active_pid !== null) {
            await pgServer.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
            return undefined;
          }
          await pgServer.query('SELECT pg_drop_replication_slot($1)', [slot]);
          return true;
        }, 15_000);
      }
      await pgServer.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    async close() {
      await nc.close().catch(() => undefined);
      await Promise.allSettled([pgServer.close(), nats.close()]);
    },
  };
}

/** A pg client on `url` that ignores the error event (a server restart must not crash the bench). */
export async function pgClient(url: string, applicationName = 'sluice-bench'): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: applicationName });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Bytes of WAL the slot has not confirmed: pg_current_wal_lsn() − confirmed_flush_lsn. */
export async function slotLag(env: BenchEnv, slot: string): Promise<number | null> {
  const r = await env.query<{ lag: string | null }>(
    'postgres',
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 AS lag
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const lag = r.rows[0]?.lag;
  return lag === undefined || lag === null ? null : Number(lag);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, or times out (null). */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T | null> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    let v: T | undefined;
    try {
      v = await probe();
    } catch {
      v = undefined; // a server briefly unreachable: try again
    }
    if (v !== undefined) return v;
    if (performance.now() > end) return null;
    await sleep(intervalMs);
  }
}

/** Wall-clock milliseconds with sub-millisecond precision (comparable with PostgreSQL commit times). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
