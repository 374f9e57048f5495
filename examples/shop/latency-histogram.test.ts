import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from './latency-histogram.js';

describe('LatencyHistogram', () => {
  it('reports 0 when empty', () => {
    expect(new LatencyHistogram().percentile(0.99)).toBe(0);
  });

  it('reports percentiles of a uniform spread within 2%', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100_000; i++) h.record(i / 100); // 0.01 ms .. 1000 ms
    expect(h.count).toBe(100_000);
    expect(h.percentile(0.5)).toBeCloseTo(500, -1);
    expect(Math.abs(h.percentile(0.99) / 990 - 1)).toBeLessThan(0.02);
    expect(Math.abs(h.percentile(0.999) / 999 - 1)).toBeLessThan(0.02);
    expect(h.percentile(1)).toBe(1000);
  });

  it('never reports more than the largest observation and survives huge values', () => {
    const h = new LatencyHistogram();
    h.record(3.3);
    expect(h.percentile(0.5)).toBeLessThanOrEqual(3.3);
    expect(h.percentile(0.5)).toBeGreaterThan(3.2);
    h.record(1e12);
    expect(h.percentile(1)).toBeGreaterThan(1e9);
    expect(Math.abs(h.percentile(0.5) / 3.3 - 1)).toBeLessThan(0.02);
  });
});
