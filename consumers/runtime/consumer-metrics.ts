/**
 * Counters, gauges and the handler latency histogram of each consumer, rendered in the Prometheus
 * text format on /metrics. Hand-written like the connector's: a handful of series per consumer.
 */

/** Upper bounds (seconds) of the handler latency histogram. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export class ConsumerMetrics {
  readonly consumer: string;
  /** Events handled successfully (acknowledged). */
  processed = 0;
  /** Handler failures (every failed attempt). */
  failed = 0;
  /** Failures that were retried (negatively acknowledged with a delay). */
  retried = 0;
  /** Events sent to the dead-letter stream. */
  deadLettered = 0;
  /** Dead letters handled again after `sluice dlq redrive`. */
  redriven = 0;
  /** Messages acknowledged without a handler call (outside the selection: other tables, ops, markers). */
  skipped = 0;
  /** Messages not yet delivered, as the last delivery reported (num_pending). */
  pending = 0;
  /** Events held in memory: queued, running or waiting for a retry. */
  inFlight = 0;
  readonly #buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  #count = 0;
  #sum = 0;

  constructor(consumer: string) {
    this.consumer = consumer;
  }

  /** Records one handler call's duration in milliseconds. */
  observeLatency(ms: number): void {
    const s = ms / 1000;
    this.#count++;
    this.#sum += s;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (s <= LATENCY_BUCKETS[i]!) this.#buckets[i]!++;
  }

  /** This consumer's series (without HELP/TYPE lines). */
  series(): Record<string, string[]> {
    const l = `consumer="${this.consumer}"`;
    const hist: string[] = LATENCY_BUCKETS.map(
      (b, i) => `sluice_consumer_handler_seconds_bucket{${l},le="${b}"} ${this.#buckets[i]}`,
    );
    hist.push(`sluice_consumer_handler_seconds_bucket{${l},le="+Inf"} ${this.#count}`);
    hist.push(`sluice_consumer_handler_seconds_sum{${l}} ${this.#sum}`);
    hist.push(`sluice_consumer_handler_seconds_count{${l}} ${this.#count}`);
    return {
      sluice_consumer_processed_total: [`sluice_consumer_processed_total{${l}} ${this.processed}`],
      sluice_consumer_failed_total: [`sluice_consumer_failed_total{${l}} ${this.failed}`],
      sluice_consumer_retried_total: [`sluice_consumer_retried_total{${l}} ${this.retried}`],
      sluice_consumer_dead_lettered_total: [`sluice_consumer_dead_lettered_total{${l}} ${this.deadLettered}`],
      sluice_consumer_redriven_total: [`sluice_consumer_redriven_total{${l}} ${this.redriven}`],
      sluice_consumer_skipped_total: [`sluice_consumer_skipped_total{${l}} ${this.skipped}`],
      sluice_consumer_pending: [`sluice_consumer_pending{${l}} ${this.pending}`],
      sluice_consumer_in_flight: [`sluice_consumer_in_flight{${l}} ${this.inFlight}`],
      sluice_consumer_handler_seconds: hist,
    };
  }
}

const HELP: Record<string, [string, string]> = {
  sluice_consumer_processed_total: ['counter', 'Events handled successfully.'],
  sluice_consumer_failed_total: ['counter', 'Failed handler attempts.'],
  sluice_consumer_retried_total: ['counter', 'Failed attempts retried after a backoff.'],
  sluice_consumer_dead_lettered_total: ['counter', 'Events sent to the dead-letter stream.'],
  sluice_consumer_redriven_total: ['counter', 'Dead letters handled after a redrive.'],
  sluice_consumer_skipped_total: [
    'counter',
    'Messages outside the selection, acknowledged without a handler call.',
  ],
  sluice_consumer_pending: ['gauge', 'Messages not yet delivered to the consumer.'],
  sluice_consumer_in_flight: ['gauge', 'Events held by the runtime: queued, running or waiting for a retry.'],
  sluice_consumer_handler_seconds: ['histogram', 'Handler duration.'],
};

/** Prometheus text of several consumers. */
export function renderMetrics(all: readonly ConsumerMetrics[]): string {
  const lines: string[] = [];
  const per = all.map((m) => m.series());
  for (const [name, [type, help]] of Object.entries(HELP)) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of per) lines.push(...(s[name] ?? []));
  }
  return lines.join('\n') + '\n';
}
