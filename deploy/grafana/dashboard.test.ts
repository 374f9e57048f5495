/**
 * The Grafana dashboard in deploy/grafana is built on exactly the metrics Sluice exports: every
 * query names a metric registered by the connector, the consumer runtime, the read models or the
 * query API (or the process metrics every daemon exports), and every one of their metrics is shown
 * somewhere.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../connector/observability/metrics.js';
import { createMetricsRegistry, type Registry } from '../../observability/metrics-registry.js';
import { ConsumerMetrics } from '../../consumers/runtime/consumer-metrics.js';
import { ReadModelMetrics } from '../../consumers/read-models/read-model-metrics.js';
import { ApiMetrics } from '../../consumers/query-api/api-metrics.js';

const DASHBOARD = fileURLToPath(new URL('./sluice-connector.json', import.meta.url));

interface Panel {
  title: string;
  type: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; refId?: string }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[] };

/** Names a Prometheus query may use for each registered metric (histograms: the three series). */
function exportedNames(registry: ReturnType<typeof createMetricsRegistry>): Set<string> {
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

/** Metric names in a PromQL expression (Sluice's are all `sluice_…`). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bsluice_[A-Za-z0-9_:]*/g)].map((m) => m[0]);
}

/** Every part's metrics on `registry`, as the daemons register them. */
function registerAll(registry: Registry): Registry {
  new Metrics({ registry });
  new ConsumerMetrics('c', registry);
  new ReadModelMetrics(registry);
  new ApiMetrics(registry, async () => new Map());
  return registry;
}

const processRegistry = registerAll(createMetricsRegistry({ processMetrics: true }));
const sluiceOnly = registerAll(createMetricsRegistry());
const queries = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })),
);

describe('deploy/grafana/sluice-connector.json', () => {
  it('has panels with queries on the datasource variable', () => {
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const p of dashboard.panels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
    }
  });

  it.each(queries)('$panel: $expr names only exported metrics', ({ expr }) => {
    const names = metricNames(expr);
    expect(names.length).toBeGreaterThan(0);
    const exported = exportedNames(processRegistry);
    for (const n of names) expect(exported, `${n} is not exported by sluice run`).toContain(n);
  });

  it('shows every metric of the connector, the consumer runtime, the read models and the query API', () => {
    const used = new Set(
      queries.flatMap((q) => metricNames(q.expr)).map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    const missing = sluiceOnly
      .getMetricsAsArray()
      .map((m) => m.name)
      .filter((n) => !used.has(n));
    expect(missing).toEqual([]);
  });
});
