/** The query API's metrics on the process's Prometheus registry (observability/), and the models' positions. */
import { Counter, Gauge, Histogram, type Registry } from '../../observability/metrics-registry.js';

/** Upper bounds (seconds) of the request duration histogram. */
export const REQUEST_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
/** Upper bounds (seconds) of the read-your-writes wait histogram (fences wait up to minutes). */
export const FENCE_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;

export class ApiMetrics {
  readonly #requests: Histogram<'route' | 'status'>;
  readonly #fenceWait: Histogram<'outcome'>;
  readonly #fenceWaits: Counter;
  readonly #fenceTimeouts: Counter;

  /** `positions` is read at each scrape: each model's position (bytes of WAL). */
  constructor(registry: Registry, positions: () => Promise<ReadonlyMap<string, bigint>>) {
    this.#requests = new Histogram({
      name: 'sluice_query_api_request_duration_seconds',
      help: 'Query API requests by route and status: duration from arrival to the last byte sent (fence waits included).',
      labelNames: ['route', 'status'],
      buckets: [...REQUEST_BUCKETS],
      registers: [registry],
    });
    this.#fenceWait = new Histogram({
      name: 'sluice_query_api_fence_wait_seconds',
      help: 'Time a request waited for its read-your-writes fence, by outcome (reached, timeout).',
      labelNames: ['outcome'],
      buckets: [...FENCE_BUCKETS],
      registers: [registry],
    });
    this.#fenceWaits = new Counter({
      name: 'sluice_query_api_fence_waits_total',
      help: 'Requests with a read-your-writes fence.',
      registers: [registry],
    });
    this.#fenceTimeouts = new Counter({
      name: 'sluice_query_api_fence_timeouts_total',
      help: 'Fences not reached within the timeout (answered 504).',
      registers: [registry],
    });
    new Gauge({
      name: 'sluice_read_model_position_lsn',
      help: 'Source LSN each read model reflects, as a number of bytes.',
      labelNames: ['model'],
      registers: [registry],
      async collect() {
        this.reset();
        const pos = await positions().catch(() => new Map<string, bigint>());
        for (const [model, p] of pos) this.set({ model }, Number(p));
      },
    });
  }

  /** One answered request; `ms`: from its arrival to the response sent. */
  request(route: string, status: number, ms: number): void {
    this.#requests.observe({ route, status: String(status) }, ms / 1000);
  }

  /** One fence waited for during `ms` milliseconds. */
  fence(reached: boolean, ms: number): void {
    this.#fenceWaits.inc();
    if (!reached) this.#fenceTimeouts.inc();
    this.#fenceWait.observe({ outcome: reached ? 'reached' : 'timeout' }, ms / 1000);
  }
}
