/**
 * What `sluice consumers run` runs: several consumers in one process, their /healthz, /readyz and
 * /metrics, and a graceful stop (every running handler finishes, queued events go back).
 */
import type { Logger } from 'pino';
import { startObservabilityServer, type ObservabilityServer } from '../../observability/http-server.js';
import { createMetricsRegistry, type Registry } from '../../observability/metrics-registry.js';
import { Leases } from './consumer-lease.js';
import { ConsumerMetrics } from './consumer-metrics.js';
import { ConsumerRunner } from './consumer-runner.js';
import type { ConsumerDefinition } from './define-consumer.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import type { JetStreamClient } from './jetstream-client.js';

export interface HostOptions {
  client: JetStreamClient;
  prefix: string;
  log: Logger;
  /** HTTP port of /healthz, /readyz, /metrics; 0 = none. */
  httpPort: number;
  /** The process's metrics registry, served at /metrics. Default: a new one with the process metrics. */
  registry?: Registry;
}

/**
 * Runs the consumers until `signal` aborts (each only while this process holds its lease);
 * rejects when one of them fails.
 */
export async function hostConsumers(
  defs: readonly ConsumerDefinition[],
  opts: HostOptions,
  signal: AbortSignal,
): Promise<void> {
  const leases = await Leases.open(opts.client, opts.prefix, opts.log);
  const registry = opts.registry ?? createMetricsRegistry({ processMetrics: true });
  const runners = defs.map((d) => new LeasedConsumer(d, opts, leases, registry));
  const server = opts.httpPort ? await startHttp(opts.httpPort, runners, registry) : null;
  const stopAll = new AbortController();
  const onAbort = () => stopAll.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) stopAll.abort();
  try {
    // One consumer failing stops the others (gracefully) and the process exits non-zero: the
    // supervisor restarts it, and every durable consumer resumes where it acknowledged.
    const results = await Promise.allSettled(
      runners.map((r) =>
        r.run(stopAll.signal).catch((err: unknown) => {
          stopAll.abort();
          throw err;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await server?.close();
  }
}

/**
 * One consumer in this process: it stands by until it holds the consumer's lease, runs while it
 * holds it, and stands by again if it loses it.
 */
class LeasedConsumer {
  readonly def: ConsumerDefinition;
  readonly metrics: ConsumerMetrics;
  readonly #opts: HostOptions;
  readonly #leases: Leases;
  #runner: ConsumerRunner | null = null;
  #standby = true;

  constructor(def: ConsumerDefinition, opts: HostOptions, leases: Leases, registry: Registry) {
    this.def = def;
    this.#opts = opts;
    this.#leases = leases;
    this.metrics = new ConsumerMetrics(def.name, registry);
  }

  /** `standby` while another process holds the consumer, else the runner's state. */
  get state(): string {
    return this.#standby ? 'standby' : (this.#runner?.state ?? 'idle');
  }

  async run(signal: AbortSignal): Promise<void> {
    const log = this.#opts.log.child({ module: 'consumer', consumer: this.def.name });
    while (!signal.aborted) {
      this.#standby = true;
      const lease = await this.#leases.acquire(this.def.name, signal);
      if (!lease) return;
      this.#standby = false;
      this.metrics.leaseHeld = 1;
      log.info({ holder: this.#leases.holder }, 'lease acquired: this process handles the consumer');
      this.#runner = new ConsumerRunner(this.def, {
        client: this.#opts.client,
        prefix: this.#opts.prefix,
        log: this.#opts.log,
        metrics: this.metrics,
        pullExpiresMs: this.#leases.pullExpiresMs,
      });
      try {
        await this.#runner.run(AbortSignal.any([signal, lease.lost]), () => lease.valid());
      } finally {
        this.metrics.leaseHeld = 0;
        await lease.release();
      }
    }
  }
}

/** /healthz, /readyz (every consumer running or standing by) and /metrics (observability/http-server.ts). */
function startHttp(
  port: number,
  runners: readonly LeasedConsumer[],
  registry: Registry,
): Promise<ObservabilityServer> {
  return startObservabilityServer({
    port,
    registry,
    readiness: () => ({
      // A standby process is healthy: it takes over when the active one dies.
      ready: runners.every((r) => r.state === 'running' || r.state === 'standby'),
      body: { consumers: Object.fromEntries(runners.map((r) => [r.def.name, r.state])) },
    }),
    portInUse: (p, cause) =>
      new ConsumerError(ConsumerErrorCodes.config, `HTTP port ${p} is already in use.`, {
        hint: 'Set SLUICE_CONSUMERS_HTTP_PORT to a free port (0 disables the HTTP endpoints).',
        cause,
      }),
  });
}
