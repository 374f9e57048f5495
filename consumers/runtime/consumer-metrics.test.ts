import { describe, expect, it } from 'vitest';
import { ConsumerMetrics, renderMetrics } from './consumer-metrics.js';

describe('ConsumerMetrics', () => {
  it('renders counters per consumer and a cumulative latency histogram', () => {
    const a = new ConsumerMetrics('a');
    const b = new ConsumerMetrics('b');
    a.processed = 3;
    b.deadLettered = 1;
    a.observeLatency(3);
    a.observeLatency(40);
    a.observeLatency(20_000);
    const text = renderMetrics([a, b]);
    expect(text).toContain('sluice_consumer_processed_total{consumer="a"} 3');
    expect(text).toContain('sluice_consumer_dead_lettered_total{consumer="b"} 1');
    expect(text).toContain('sluice_consumer_handler_seconds_bucket{consumer="a",le="0.005"} 1');
    expect(text).toContain('sluice_consumer_handler_seconds_bucket{consumer="a",le="0.05"} 2');
    expect(text).toContain('sluice_consumer_handler_seconds_bucket{consumer="a",le="30"} 3');
    expect(text).toContain('sluice_consumer_handler_seconds_count{consumer="a"} 3');
    expect(text.match(/# TYPE sluice_consumer_handler_seconds histogram/g)).toHaveLength(1);
  });
});
