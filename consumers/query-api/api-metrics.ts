/** The query API's metrics on the process's Prometheus registry (observability/), and the models' positions. */
import { Counter, Gauge, type Registry } from '../../observability/metrics-registry.js';

export class ApiMetrics {
  readonly #requests: Counter<'route' | 'status'>;
  readonly #fenceWaits: Counter;
  readonly #fenceTimeouts: Counter;

  /** `positions` is read at each scrape: each model's position (bytes of WAL). */
  constructor(registry: Registry, positions: () => Promise<ReadonlyMap<string, bigint>>) {
    this.#requests = new Counter({
      name: 'sluice_query_api_requests_total',
      help: 'Query API requests by route and status.',
      labelNames: ['route', 'status'],
      registers: [registry],
    });
    this.#fenceWaits = new Counter({
      name: 'sluice_query_api_fence_waits_total',
      help: 'Requests with a read-your-writes fence.',
      registers: [registry],
    });
    this.#fenceTimeouts = new Counter({
      name: 'sluice_query_api_fence_timeouts_total',
      help: 'Fences not reached within the timeout (504).',
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

  request(route: string, status: number): void {
    this.#requests.inc({ route, status: String(status) });
  }

  fence(reached: boolean): void {
    this.#fenceWaits.inc();
    if (!reached) this.#fenceTimeouts.inc();
  }
}
