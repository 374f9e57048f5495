import { randomBytes } from 'node:crypto';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { ConnectionOptions } from '@nats-io/transport-node';
import { pingJetStream, withNats } from './clients.js';
import { startNatsContainer, useDocker } from './docker.js';
import { HarnessError, HarnessErrorCode, describeError } from './errors.js';
import { freePort } from './ports.js';
import { makeTempDir, removeTempDir, trackCloseable, untrackCloseable } from './registry.js';
import { ServerProcess, assertExecutable } from './server-process.js';
import { eventually } from './wait.js';

/**
 * The nats-server binary: `SLUICE_NATS_SERVER` if set, else the first `nats-server` on the PATH,
 * else Debian's `/usr/sbin/nats-server`.
 */
export const NATS_SERVER_BIN = findNatsServer();

function findNatsServer(): string {
  if (process.env.SLUICE_NATS_SERVER) return process.env.SLUICE_NATS_SERVER;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return '/usr/sbin/nats-server';
}

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** Extra nats-server command-line arguments, appended after the harness's own. */
  args?: string[];
  /** Also open the HTTP monitoring port (see `monitorUrl`); default false. */
  monitor?: boolean;
  /**
   * A nats-server configuration file's text (e.g. `tls { … }`, `authorization { … }`), written to
   * `<tmp>/nats.conf` and passed with `-c`; the harness's listen address, port, name and JetStream
   * flags on the command line take precedence. Files it names must be absolute paths.
   */
  config?: string;
  /**
   * nats.js connection options the harness's own readiness check uses (TLS files, user and
   * password, token), needed when `config` requires them.
   */
  clientOptions?: Partial<ConnectionOptions>;
  /**
   * How long the server may take to answer JetStream requests (default 30 s); a node of a cluster
   * needs {@link CLUSTER_STARTUP_TIMEOUT_MS}.
   */
  startupTimeoutMs?: number;
}

/** A nats-server with JetStream started for a test. */
export interface NatsServer {
  /** Server name (`server_name`). */
  readonly name: string;
  /** Client port on 127.0.0.1 (mapped port for containers). */
  readonly port: number;
  /** Client URL: nats://127.0.0.1:port. */
  readonly url: string;
  /** JetStream store directory (inside the container for the Docker path). */
  readonly storeDir: string;
  /** HTTP monitoring URL when started with `monitor: true`, else undefined. */
  readonly monitorUrl: string | undefined;
  /** Server pid while running; undefined when stopped (and for containers). */
  readonly pid: number | undefined;
  /** Whether the server is running. */
  readonly running: boolean;
  /** Graceful shutdown (SIGTERM), waiting for the exit (15 s, then killed and an error thrown). */
  stop(): Promise<void>;
  /** SIGKILL, waiting until the process is gone (a crash). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same store; waits until JetStream answers. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
  /** Stops the server if running and removes its temp dir; idempotent. */
  close(): Promise<void>;
}

/** A JetStream cluster of local nats-servers on loopback. */
export interface NatsCluster {
  /** The servers, each restartable on its own. */
  readonly nodes: NatsServer[];
  /** Client URLs of all nodes (pass them all as `servers` so clients fail over). */
  readonly urls: string[];
  /** Closes every node; idempotent. */
  close(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;
/**
 * A cluster node answers JetStream requests only once the nodes have elected a meta leader: a Raft
 * election with randomised timeouts that can take several rounds on a loaded 2-core machine (seen:
 * no leader 30 s after start with nats-server 2.10.27 while two other test files ran).
 */
export const CLUSTER_STARTUP_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 5;

function assertNatsBinary(): void {
  assertExecutable(
    NATS_SERVER_BIN,
    'nats-server',
    'install it with `apt-get install -y nats-server` (or put it on the PATH, or set SLUICE_NATS_SERVER)',
  );
}

/**
 * Starts a nats-server with JetStream (`-js -sd <tmp>/js`) on a free loopback port in its own temp
 * dir (`sluice-nats-*`). With `SLUICE_TEST_DOCKER=1` and a Docker engine it runs a container
 * instead. Resolves once a client connects and JetStream answers account info.
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  if (await useDocker()) {
    if (opts.config !== undefined) {
      throw new HarnessError(HarnessErrorCode.BadSetting, 'config is supported by local servers only');
    }
    return startNatsContainer(opts.args ?? []);
  }
  assertNatsBinary();
  const tmp = makeTempDir('sluice-nats-');
  try {
    const conf = join(tmp, 'nats.conf');
    if (opts.config !== undefined) writeFileSync(conf, opts.config);
    const name = `sluice-${basename(tmp).slice('sluice-nats-'.length)}`;
    const ports = { client: await freePort(), monitor: opts.monitor ? await freePort() : undefined };
    const server = new LocalNats({
      tmp,
      name,
      ports,
      args: (storeDir) => [
        ...['-a', '127.0.0.1', '-p', String(ports.client), '-n', name, '-js', '-sd', storeDir],
        ...(ports.monitor === undefined ? [] : ['-m', String(ports.monitor)]),
        ...(opts.config === undefined ? [] : ['-c', conf]),
        ...(opts.args ?? []),
      ],
      clientOptions: opts.clientOptions ?? {},
      ...(opts.startupTimeoutMs === undefined ? {} : { startupTimeoutMs: opts.startupTimeoutMs }),
      newPorts: async () => {
        ports.client = await freePort();
        if (ports.monitor !== undefined) ports.monitor = await freePort();
      },
    });
    await server.firstStart();
    trackCloseable(server);
    return server;
  } catch (err) {
    removeTempDir(tmp);
    throw err;
  }
}

/**
 * Starts a JetStream cluster of `size` nats-servers (default 3) on loopback, each in its own temp dir
 * with a config file (`server_name`, `cluster { name, listen, routes }`, `jetstream { store_dir }`).
 * Resolves once the cluster has a meta leader and can place a stream with `min(size, 5)` replicas.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  assertNatsBinary();
  const clusterName = `sluice-${randomBytes(4).toString('hex')}`;
  const specs: { tmp: string; name: string; client: number; route: number }[] = [];
  const nodes: LocalNats[] = [];
  try {
    for (let i = 0; i < size; i += 1) {
      specs.push({
        tmp: makeTempDir('sluice-nats-'),
        name: `n${i + 1}`,
        client: await freePort(),
        route: await freePort(),
      });
    }
    for (const spec of specs) {
      const conf = join(spec.tmp, 'nats.conf');
      // Every node lists all routes, its own included (the server skips the route to itself): a
      // fresh cluster's servers take the number of configured routes as the expected size of the
      // JetStream meta group. With only the other two listed each expects 2, and two nodes that
      // meet first can elect a meta leader of a 2-node group the third never joins (R3 streams
      // then fail with "no suitable peers for placement"; seen with nats-server 2.10.27).
      const routes = specs.map((s) => `    "nats-route://127.0.0.1:${s.route}"`);
      writeFileSync(
        conf,
        [
          `server_name: "${spec.name}"`,
          `listen: "127.0.0.1:${spec.client}"`,
          `jetstream {`,
          `  store_dir: "${join(spec.tmp, 'js')}"`,
          `}`,
          `cluster {`,
          `  name: "${clusterName}"`,
          `  listen: "127.0.0.1:${spec.route}"`,
          `  routes: [`,
          ...routes,
          `  ]`,
          `}`,
          '',
        ].join('\n'),
      );
      nodes.push(
        new LocalNats({
          tmp: spec.tmp,
          name: spec.name,
          ports: { client: spec.client },
          args: () => ['-c', conf],
          startupTimeoutMs: CLUSTER_STARTUP_TIMEOUT_MS,
        }),
      );
    }
    // Each node is ready when JetStream answers through it, which needs a meta leader.
    await Promise.all(nodes.map((n) => n.start()));
    for (const n of nodes) trackCloseable(n);
    const urls = nodes.map((n) => n.url);
    await waitForReplicatedStream(urls, Math.min(size, 5));
    let closing: Promise<void> | undefined;
    return {
      nodes,
      urls,
      close: () => (closing ??= closeAllOf(nodes)),
    };
  } catch (err) {
    await closeAllOf(nodes).catch(() => undefined);
    for (const s of specs) removeTempDir(s.tmp);
    throw err;
  }
}

async function closeAllOf(nodes: LocalNats[]): Promise<void> {
  const results = await Promise.allSettled(nodes.map((n) => n.close()));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length > 0)
    throw new AggregateError(failed, `closing the NATS cluster: ${describeError(failed[0])}`);
}

/** Creates and deletes a throwaway stream with `replicas` replicas until that works. */
async function waitForReplicatedStream(urls: string[], replicas: number): Promise<void> {
  const name = `HARNESS_READY_${randomBytes(4).toString('hex').toUpperCase()}`;
  await eventually(
    () =>
      withNats(urls, async (nc) => {
        const jsm = await jetstreamManager(nc, { timeout: 5_000 });
        // Same name and config on every attempt, so an add that timed out but succeeded is idempotent.
        await jsm.streams.add({
          name,
          subjects: [`harness.ready.${name}`],
          num_replicas: replicas,
          storage: 'memory',
        });
        await jsm.streams.delete(name);
      }),
    { timeout: 60_000, interval: 200, message: `the NATS cluster to place an R${replicas} stream` },
  );
}

interface LocalNatsOptions {
  tmp: string;
  name: string;
  ports: { client: number; monitor?: number | undefined };
  args: (storeDir: string) => string[];
  /** Picks new ports before retrying a first start that failed to bind. */
  newPorts?: () => Promise<void>;
  /** Connection options of the readiness check (TLS, credentials). */
  clientOptions?: Partial<ConnectionOptions>;
  /** Bound on the wait for JetStream to answer; default STARTUP_TIMEOUT_MS. */
  startupTimeoutMs?: number;
}

class LocalNats implements NatsServer {
  readonly name: string;
  readonly storeDir: string;
  readonly #opts: LocalNatsOptions;
  readonly #proc: ServerProcess;
  #closing: Promise<void> | undefined;

  constructor(opts: LocalNatsOptions) {
    this.#opts = opts;
    this.name = opts.name;
    this.storeDir = join(opts.tmp, 'js');
    this.#proc = new ServerProcess({
      label: `nats-server ${opts.name}`,
      command: NATS_SERVER_BIN,
      args: () => opts.args(this.storeDir),
      cwd: opts.tmp,
      scopeDir: opts.tmp,
      logFile: join(opts.tmp, 'nats.log'),
    });
  }

  get port(): number {
    return this.#opts.ports.client;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get monitorUrl(): string | undefined {
    const m = this.#opts.ports.monitor;
    return m === undefined ? undefined : `http://127.0.0.1:${m}`;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#proc.running;
  }

  async stop(): Promise<void> {
    await this.#proc.stop('SIGTERM', STOP_TIMEOUT_MS);
  }

  async kill(): Promise<void> {
    await this.#proc.kill();
  }

  async start(): Promise<void> {
    if (this.#closing) throw new HarnessError(HarnessErrorCode.Closed, `nats-server ${this.name} was closed`);
    if (this.#proc.running) return;
    const exited = this.#proc.spawn();
    try {
      await eventually(() => pingJetStream(this.url, this.#opts.clientOptions), {
        timeout: this.#opts.startupTimeoutMs ?? STARTUP_TIMEOUT_MS,
        interval: 50,
        message: `nats-server ${this.name} on port ${this.port} to answer JetStream requests`,
        signal: exited,
      });
    } catch (err) {
      await this.#proc.kill();
      if (err instanceof HarnessError && err.code === HarnessErrorCode.StartFailed) throw err;
      throw new HarnessError(
        HarnessErrorCode.StartFailed,
        `nats-server ${this.name} did not start: ${describeError(err)}; server log:\n${this.#proc.logTail()}`,
        { cause: err },
      );
    }
  }

  /** First start, moving to new ports when the chosen one was taken meanwhile. */
  async firstStart(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.start();
      } catch (err) {
        const portTaken = /address already in use/i.test(this.#proc.logTail());
        if (!portTaken || !this.#opts.newPorts || attempt >= PORT_ATTEMPTS) throw err;
        await this.#opts.newPorts();
      }
    }
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
        removeTempDir(this.#opts.tmp);
      }
    })());
  }
}
