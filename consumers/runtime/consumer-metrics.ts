/**
 * The consumer runtime's metrics on the process's Prometheus registry (observability/), label
 * `consumer`. The runner counts into plain fields of its {@link ConsumerMetrics} (nothing but an
 * increment on the hot path) and the registry reads them at scrape time; only the handler latency
 * is a histogram observed as it happens.
 *
 * What only the server knows (messages not yet delivered, open dead letters) is asked at scrape
 * time, for the consumers this process runs (holds the lease of), at most once a second and
 * within a deadline: a scrape never waits on an unreachable NATS, it shows the last answer.
 */
import {
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  type Registry,
} from '../../observability/metrics-registry.js';

/** Upper bounds (seconds) of the handler latency histogram. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Milliseconds a scrape waits for the server's answers before showing the last ones. */
const PROBE_DEADLINE_MS = 2000;
/** Milliseconds during which one set of answers serves every scrape. */
const PROBE_FRESH_MS = 1000;

/** Outcomes of `sluice_consumer_messages_total`. */
export const Outcomes = ['ok', 'retry', 'dead_lettered', 'skipped', 'redrive_failed'] as const;
export type Outcome = (typeof Outcomes)[number];

/** What the runner asks the server at scrape time while it runs the consumer. */
export interface ConsumerProbe {
  /** `num_pending` and `num_ack_pending` of the durable consumer (null: it does not exist). */
  pending(): Promise<{ pending: number; ackPending: number } | null>;
  /** Open dead letters of the consumer in `<P>_DLQ`. */
  deadLetters(): Promise<number>;
}

export class ConsumerMetrics {
  readonly consumer: string;
  /** Events handled successfully (acknowledged); a whole transaction counts its events. */
  processed = 0;
  /** Failed attempts retried after a backoff (negatively acknowledged with a delay). */
  retried = 0;
  /** Events sent to the dead-letter stream. */
  deadLettered = 0;
  /** Redriven dead letters that failed again (they stay in the dead letters). */
  redriveFailed = 0;
  /** Dead letters handled again after `sluice dlq redrive`. */
  redriven = 0;
  /** Messages acknowledged without a handler call (outside the selection: other tables, ops, markers). */
  skipped = 0;
  /** Deliveries the server marked as redelivered (ack wait ran out, or a retry). */
  redeliveries = 0;
  /** Messages not yet delivered: the server's num_pending (between probes, what the last delivery said). */
  pending = 0;
  /** Messages delivered and not yet acknowledged (num_ack_pending, from the probe). */
  ackPending = 0;
  /** Events held in memory: queued, running or waiting for a retry. */
  inFlight = 0;
  /** Open dead letters (from the probe). */
  deadLetters = 0;
  /** 1 while this process holds the consumer's lease (runs it), else 0. */
  leaseHeld = 0;
  /** Set by the runner while it runs: the scrape asks the server through it. */
  probe: ConsumerProbe | null = null;
  #probed = 0;
  #probing: Promise<void> | null = null;
  readonly #latency: Histogram<'consumer'>;

  /** `registry`: the process's registry (a new one when absent). One object per consumer and registry. */
  constructor(consumer: string, registry: Registry = createMetricsRegistry()) {
    this.consumer = consumer;
    const f = familiesOf(registry);
    f.consumers.add(this);
    this.#latency = f.latency;
    this.#latency.zero({ consumer });
  }

  /** Records one handler call's duration in milliseconds. */
  observeLatency(ms: number): void {
    this.#latency.observe({ consumer: this.consumer }, ms / 1000);
  }

  /** Count of one outcome. */
  count(outcome: Outcome): number {
    switch (outcome) {
      case 'ok':
        return this.processed;
      case 'retry':
        return this.retried;
      case 'dead_lettered':
        return this.deadLettered;
      case 'skipped':
        return this.skipped;
      case 'redrive_failed':
        return this.redriveFailed;
    }
  }

  /** Asks the server (through the probe) unless an answer younger than a second is at hand. */
  refresh(now = Date.now()): Promise<void> {
    const probe = this.probe;
    if (!probe || now - this.#probed < PROBE_FRESH_MS) return Promise.resolve();
    this.#probing ??= (async () => {
      const [p, dl] = await Promise.allSettled([
        withDeadline(probe.pending()),
        withDeadline(probe.deadLetters()),
      ]);
      if (p.status === 'fulfilled' && p.value) {
        this.pending = p.value.pending;
        this.ackPending = p.value.ackPending;
      }
      if (dl.status === 'fulfilled') this.deadLetters = dl.value;
      this.#probed = Date.now();
    })().finally(() => (this.#probing = null));
    return this.#probing;
  }
}

function withDeadline<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer in time')), PROBE_DEADLINE_MS);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

interface Families {
  readonly consumers: Set<ConsumerMetrics>;
  readonly latency: Histogram<'consumer'>;
}

const families = new WeakMap<Registry, Families>();

/** The runtime's metric families on `registry`, registered once whatever the number of consumers. */
function familiesOf(registry: Registry): Families {
  const known = families.get(registry);
  if (known) return known;
  const consumers = new Set<ConsumerMetrics>();
  // The server-side values are asked once per scrape, before the first gauge that shows them.
  const refreshAll = () => Promise.all([...consumers].map((m) => m.refresh()));
  const counter = (name: string, help: string, read: (m: ConsumerMetrics) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['consumer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const m of consumers) this.inc({ consumer: m.consumer }, read(m));
      },
    });
  const gauge = (name: string, help: string, read: (m: ConsumerMetrics) => number, probed = false) =>
    new Gauge({
      name,
      help,
      labelNames: ['consumer'],
      registers: [registry],
      async collect() {
        if (probed) await refreshAll();
        this.reset();
        for (const m of consumers) this.set({ consumer: m.consumer }, read(m));
      },
    });
  new Counter({
    name: 'sluice_consumer_messages_total',
    help: 'Messages handled, by outcome: ok (acknowledged; a whole transaction counts its events), retry (failed, retried after a backoff), dead_lettered, skipped (outside the selection), redrive_failed (a redriven dead letter failed again).',
    labelNames: ['consumer', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of consumers)
        for (const outcome of Outcomes) this.inc({ consumer: m.consumer, outcome }, m.count(outcome));
    },
  });
  counter('sluice_consumer_redriven_total', 'Dead letters handled after a redrive.', (m) => m.redriven);
  counter(
    'sluice_consumer_redeliveries_total',
    'Deliveries the server marked as redelivered (ack wait ran out, or a retry).',
    (m) => m.redeliveries,
  );
  gauge(
    'sluice_consumer_pending_messages',
    'Messages of the stream not yet delivered to the consumer (num_pending).',
    (m) => m.pending,
    true,
  );
  gauge(
    'sluice_consumer_ack_pending_messages',
    'Messages delivered and not yet acknowledged (num_ack_pending).',
    (m) => m.ackPending,
    true,
  );
  gauge(
    'sluice_consumer_dead_letters',
    'Open dead letters of the consumer in the dead-letter stream.',
    (m) => m.deadLetters,
    true,
  );
  gauge(
    'sluice_consumer_in_flight',
    'Events held by the runtime: queued, running or waiting for a retry.',
    (m) => m.inFlight,
  );
  gauge(
    'sluice_consumer_lease_held',
    '1 while this process holds the lease of the consumer (runs it), 0 while it stands by.',
    (m) => m.leaseHeld,
  );
  const latency = new Histogram({
    name: 'sluice_consumer_handler_seconds',
    help: 'Handler duration (handle or handleTransaction), failed calls included.',
    labelNames: ['consumer'],
    buckets: [...LATENCY_BUCKETS],
    registers: [registry],
  });
  const f = { consumers, latency };
  families.set(registry, f);
  return f;
}
