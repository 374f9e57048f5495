/**
 * Commit-to-delivery latency: a core NATS subscription on `cdc.delta.>` computes, for every delta,
 * arrival time − `data.tx.commitTime` (PostgreSQL's commit timestamp, same clock). nats-server
 * routes a publish to core subscribers as it hands it to the stream, so a delta reaches this
 * subscriber as JetStream stores it, within a fraction of a millisecond of the ack the connector
 * waits for: the figure is commit → stored ≈ commit → ack.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { nowMs } from './bench-env.js';

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

const DEC = new TextDecoder();
const MARK = '"commitTime":"';

/** Epoch ms (µs kept) of a `2024-01-02T03:04:05.123456Z` timestamp. */
function isoMicrosToMs(s: string): number {
  return Date.parse(s.slice(0, 23) + 'Z') + Number(s.slice(23, 26) || '0') / 1000;
}

/** One recording window: latency of each delta that arrived in it. */
export class DeltaLatencyRecorder {
  readonly #sub: Subscription;
  readonly #accept: (subject: string) => boolean;
  readonly #t0 = performance.now();
  /** Arrival (s since the recorder started) and latency (ms), one pair per delta. */
  readonly arrivals: number[] = [];
  readonly latencies: number[] = [];
  /** Wall-clock ms of the last accepted delta's arrival. */
  lastArrivalMs = 0;
  #recording = true;

  constructor(
    nc: NatsConnection,
    accept: (subject: string) => boolean = () => true,
    subject = 'cdc.delta.>',
  ) {
    this.#accept = accept;
    this.#sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err || !this.#recording || !this.#accept(msg.subject)) return;
        const now = nowMs();
        const text = DEC.decode(msg.data);
        const i = text.lastIndexOf(MARK);
        if (i < 0) return;
        const start = i + MARK.length;
        const commit = isoMicrosToMs(text.slice(start, text.indexOf('"', start)));
        this.arrivals.push((performance.now() - this.#t0) / 1000);
        this.latencies.push(now - commit);
        this.lastArrivalMs = now;
      },
    });
  }

  get count(): number {
    return this.latencies.length;
  }

  /** Latencies of deltas that arrived between two recorder times (seconds). */
  between(fromSec: number, toSec = Infinity): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.arrivals.length; i++) {
      const t = this.arrivals[i]!;
      if (t >= fromSec && t < toSec) out.push(this.latencies[i]!);
    }
    return out;
  }

  /** Seconds since the recorder started. */
  elapsed(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  /** Per-bucket p50/p99 latency and deltas/s, for the chart. */
  series(bucketSec = 1): { t: number; p50: number; p99: number; rate: number }[] {
    const buckets = new Map<number, number[]>();
    for (let i = 0; i < this.arrivals.length; i++) {
      const b = Math.floor(this.arrivals[i]! / bucketSec);
      let list = buckets.get(b);
      if (!list) buckets.set(b, (list = []));
      list.push(this.latencies[i]!);
    }
    return [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([b, list]) => {
        const s = summarize(list);
        return { t: (b + 0.5) * bucketSec, p50: s.p50, p99: s.p99, rate: list.length / bucketSec };
      });
  }

  stop(): void {
    this.#recording = false;
    this.#sub.unsubscribe();
  }
}
