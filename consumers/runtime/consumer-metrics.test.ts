import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../observability/metrics-registry.js';
import { ConsumerMetrics } from './consumer-metrics.js';

describe('ConsumerMetrics', () => {
  it('exports the counts of every consumer of the registry and a cumulative latency histogram', async () => {
    const registry = createMetricsRegistry();
    const a = new ConsumerMetrics('a', registry);
    const b = new ConsumerMetrics('b', registry);
    a.processed = 3;
    a.retried = 2;
    b.deadLettered = 1;
    b.leaseHeld = 1;
    a.observeLatency(3);
    a.observeLatency(40);
    a.observeLatency(20_000);
    const text = await registry.metrics();
    expect(text).toContain('sluice_consumer_messages_total{consumer="a",outcome="ok"} 3');
    expect(text).toContain('sluice_consumer_messages_total{consumer="a",outcome="retry"} 2');
    expect(text).toContain('sluice_consumer_messages_total{consumer="b",outcome="dead_lettered"} 1');
    expect(text).toContain('sluice_consumer_messages_total{consumer="b",outcome="ok"} 0');
    expect(text).toContain('sluice_consumer_lease_held{consumer="b"} 1');
    expect(text).toContain('sluice_consumer_lease_held{consumer="a"} 0');
    expect(text).toContain('sluice_consumer_handler_seconds_bucket{le="0.005",consumer="a"} 1');
    expect(text).toContain('sluice_consumer_handler_seconds_bucket{le="0.05",consumer="a"} 2');
    expect(text).toContain('sluice_consumer_handler_seconds_bucket{le="30",consumer="a"} 3');
    expect(text).toContain('sluice_consumer_handler_seconds_count{consumer="a"} 3');
    expect(text).toContain('sluice_consumer_handler_seconds_count{consumer="b"} 0');
    expect(text.match(/# TYPE sluice_consumer_handler_seconds histogram/g)).toHaveLength(1);
  });

  it('asks the server through the probe at scrape time, at most once a second, keeping the last answer on failure', async () => {
    const registry = createMetricsRegistry();
    const m = new ConsumerMetrics('c', registry);
    let asked = 0;
    let fail = false;
    m.probe = {
      pending: async () => {
        asked++;
        if (fail) throw new Error('NATS is away');
        return { pending: 7, ackPending: 2 };
      },
      deadLetters: async () => (fail ? Promise.reject(new Error('away')) : 4),
    };
    let text = await registry.metrics();
    expect(text).toContain('sluice_consumer_pending_messages{consumer="c"} 7');
    expect(text).toContain('sluice_consumer_ack_pending_messages{consumer="c"} 2');
    expect(text).toContain('sluice_consumer_dead_letters{consumer="c"} 4');
    expect(asked).toBe(1);
    await registry.metrics();
    expect(asked).toBe(1);
    fail = true;
    await m.refresh(Date.now() + 5000);
    expect(asked).toBe(2);
    text = await registry.metrics();
    expect(text).toContain('sluice_consumer_pending_messages{consumer="c"} 7');
    expect(text).toContain('sluice_consumer_dead_letters{consumer="c"} 4');
  });
});
