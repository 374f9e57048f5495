import type { StartedTestContainer } from 'testcontainers';
import type { QueryResult, QueryResultRow } from 'pg';
import { pingJetStream, pingPostgres, withPgClient } from './clients.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import type { NatsServer } from './nats.js';
import { freePort } from './ports.js';
import type { PostgresServer, PostgresVersion } from './postgres.js';
import { trackCloseable, untrackCloseable } from './registry.js';
import { eventually } from './wait.js';

// Opt-in path for machines with a Docker engine: the same PostgresServer/NatsServer interfaces
// backed by testcontainers. testcontainers is imported lazily, so nothing loads it unless
// SLUICE_TEST_DOCKER=1. Host ports are bound explicitly so they survive container restarts; kill()
// is a SIGKILL of the container. The project's machines have no Docker engine: CI never runs this.

type Testcontainers = typeof import('testcontainers');

let decision: Promise<boolean> | undefined;

/** Whether servers run in containers: env `SLUICE_TEST_DOCKER=1` and a Docker engine answers. */
export function useDocker(): Promise<boolean> {
  return (decision ??= (async () => {
    if (process.env.SLUICE_TEST_DOCKER !== '1') return false;
    try {
      const tc = await loadTestcontainers();
      await tc.getContainerRuntimeClient();
      return true;
    } catch (err) {
      console.warn(
        `SLUICE_TEST_DOCKER=1 but no Docker engine answers (${(err as Error).message}); using local binaries`,
      );
      return false;
    }
  })());
}

function loadTestcontainers(): Promise<Testcontainers> {
  return import('testcontainers');
}

/** A container plus the runtime calls that testcontainers' own API lacks (kill, start again). */
class Container {
  readonly #started: StartedTestContainer;
  readonly #tc: Testcontainers;
  #running = true;
  #closing: Promise<void> | undefined;

  constructor(tc: Testcontainers, started: StartedTestContainer) {
    this.#tc = tc;
    this.#started = started;
  }

  get host(): string {
    return this.#started.getHost();
  }

  get running(): boolean {
    return this.#running;
  }

  async #dockerode(): Promise<{ kill(o: { signal: string }): Promise<unknown>; start(): Promise<unknown> }> {
    const client = await this.#tc.getContainerRuntimeClient();
    return client.container.getById(this.#started.getId());
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    const client = await this.#tc.getContainerRuntimeClient();
    await client.container.stop(client.container.getById(this.#started.getId()), { timeout: 30 });
    this.#running = false;
  }

  async kill(): Promise<void> {
    if (!this.#running) return;
    await (await this.#dockerode()).kill({ signal: 'SIGKILL' });
    this.#running = false;
  }

  async start(): Promise<void> {
    if (this.#closing) throw new HarnessError(HarnessErrorCode.Closed, 'container was closed');
    if (this.#running) return;
    await (await this.#dockerode()).start();
    this.#running = true;
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#started.stop({ remove: true }).then(() => {
      this.#running = false;
    }));
  }
}

/** PostgreSQL `postgres:<version>` in a container, with the harness settings as `-c` flags. */
export async function startPostgresContainer(
  version: PostgresVersion,
  settings: Record<string, string>,
): Promise<PostgresServer> {
  const tc = await loadTestcontainers();
  const port = await freePort();
  const started = await new tc.GenericContainer(`postgres:${version}`)
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withCommand(['postgres', ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])])
    .withExposedPorts({ container: 5432, host: port })
    .start();
  const c = new Container(tc, started);
  const url = (database = 'postgres', user = 'postgres'): string =>
    `postgres://${encodeURIComponent(user)}@${c.host}:${port}/${encodeURIComponent(database)}`;
  const ready = (): Promise<void> =>
    eventually(() => pingPostgres(url()), {
      timeout: 60_000,
      message: `postgres:${version} container to accept connections`,
    });
  const server: PostgresServer = {
    version,
    port,
    get host() {
      return c.host;
    },
    dataDir: '/var/lib/postgresql/data',
    pid: undefined,
    get running() {
      return c.running;
    },
    url,
    async createDatabase(name = `test_${Math.random().toString(16).slice(2, 14)}`) {
      await server.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      return url(name);
    },
    query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[], database?: string) {
      return withPgClient(url(database), (cl): Promise<QueryResult<R>> => cl.query<R>(sql, params));
    },
    stop: () => c.stop(),
    kill: () => c.kill(),
    start: async () => {
      await c.start();
      await ready();
    },
    restart: async () => {
      await c.stop();
      await c.start();
      await ready();
    },
    close: async () => {
      untrackCloseable(server);
      await c.close();
    },
  };
  await ready();
  trackCloseable(server);
  return server;
}

/** nats:2.9 in a container with JetStream. */
export async function startNatsContainer(args: string[]): Promise<NatsServer> {
  const tc = await loadTestcontainers();
  const port = await freePort();
  const started = await new tc.GenericContainer('nats:2.9')
    .withCommand(['-js', '-sd', '/data', ...args])
    .withExposedPorts({ container: 4222, host: port })
    .start();
  const c = new Container(tc, started);
  const url = (): string => `nats://${c.host}:${port}`;
  const ready = (): Promise<void> =>
    eventually(() => pingJetStream(url()), {
      timeout: 30_000,
      message: 'nats:2.9 container to answer JetStream',
    });
  const server: NatsServer = {
    name: started.getName(),
    port,
    get url() {
      return url();
    },
    storeDir: '/data',
    monitorUrl: undefined,
    pid: undefined,
    get running() {
      return c.running;
    },
    stop: () => c.stop(),
    kill: () => c.kill(),
    start: async () => {
      await c.start();
      await ready();
    },
    restart: async () => {
      await c.stop();
      await c.start();
      await ready();
    },
    close: async () => {
      untrackCloseable(server);
      await c.close();
    },
  };
  await ready();
  trackCloseable(server);
  return server;
}
