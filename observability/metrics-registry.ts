/**
 * The Prometheus registry of a Sluice process, shared by every part that runs in it: the
 * connector, the consumer runtime, read models. Each part registers its metrics on the registry it
 * is handed, and one `/metrics` endpoint serves them all. This is the only module that imports
 * prom-client: the metric classes are re-exported from here.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry, type CollectFunction } from 'prom-client';

export interface MetricsRegistryOptions {
  /**
   * Also export the process's own metrics (CPU, memory, event-loop lag, start time) under
   * `sluice_process_…` / `sluice_nodejs_…`. Default false: tests run several parts in one process.
   */
  processMetrics?: boolean;
}

/** A new registry; give the same one to every part of a process. */
export function createMetricsRegistry(opts: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  return registry;
}

/** The Content-Type of the text that `registry.metrics()` returns. */
export function metricsContentType(registry: Registry): string {
  return registry.contentType;
}
