/**
 * The connector's Prometheus metrics, registered on a shared registry (observability/: the
 * consumer runtime and read models register theirs on the same one).
 *
 * Most series read counters the pipeline keeps anyway (the processor's and the sink's `stats`) at
 * scrape time, through `collect()`: nothing is added to the hot path but the per-table event
 * count (one map lookup per message) and the commit times of transactions in flight.
 *
 * Counters survive sessions: a new session's processor and sink start at zero, so the totals of
 * finished sessions are carried in `#base`.
 */
import {
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  type Registry,
} from '../../observability/metrics-registry.js';
import { parseSubject } from '../../schemas/subjects.js';
import type { CountedHeartbeats, CountedProcessor, CountedSink } from '../ports.js';

/** Upper bounds (seconds) of the commit → acknowledgement latency histogram. */
export const COMMIT_ACK_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
] as const;

/** The sink's streams, by its stream index (jetstream-sink.ts `Streams`). */
const STREAMS = ['facts', 'deltas', 'events', 'dlq'] as const;

/** Transactions whose commit time is kept until their acknowledgement (beyond that, not timed). */
const MAX_TIMED_COMMITS = 100_000;

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;

interface ProcessorTotals {
  changes: number;
  transactions: number;
  skipped: number;
  fetches: number;
  large: number;
  dbReads: number;
}

/** What the metrics read of the connector's status. */
export interface StatusView {
  readonly state: string;
  readonly confirmedLsn: bigint;
  readonly sessions: number;
}

export interface MetricsOptions {
  /** Subject prefix, to label events by table. Default `cdc`. */
  prefix?: string;
  /** Registry to register on; a new one by default. */
  registry?: Registry;
  /** Retained WAL (bytes) above which `sluice_slot_retained_wal_warning` is 1; 0 = never. */
  retainedWalWarnBytes?: number;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

export class Metrics {
  readonly registry: Registry;
  readonly #prefix: string;
  readonly retainedWalWarnBytes: number;
  #processor: CountedProcessor | null = null;
  #sink: CountedSink | null = null;
  #heartbeats: CountedHeartbeats | null = null;
  #status: StatusView | null = null;
  /** Totals carried over from finished sessions. */
  readonly #base = {
    changes: 0,
    transactions: 0,
    skipped: 0,
    fetches: 0,
    large: 0,
    dbReads: 0,
    published: STREAMS.map(() => 0),
    acked: STREAMS.map(() => 0),
    bytes: 0,
    duplicates: 0,
    heartbeats: 0,
  };
  sessionFailures = 0;
  snapshotRows = 0;
  snapshotActive = 0;
  readonly snapshots = new Map<string, { done: number; total: number; rate: number }>();
  /** Bytes between the server's WAL end and the slot's confirmed position (set by the status poller). */
  lagBytes = 0;
  /** WAL the slot retains, `pg_current_wal_lsn() − restart_lsn` (set by the status poller). */
  retainedWalBytes = 0;
  /** Heartbeats committed in the source database. */
  heartbeatsWritten = 0;
  /** Events published, by the subject without its last token (see countEvent). */
  readonly #events = new Map<string, { kind: string; table: string; op: string; n: number }>();
  /** End LSN and commit time (ms) of transactions read and not yet acknowledged, oldest first. */
  #commits: [bigint, number][] = [];
  #commitsHead = 0;
  readonly #commitAck: Histogram;

  constructor(opts: MetricsOptions = {}) {
    this.registry = opts.registry ?? createMetricsRegistry();
    this.#prefix = opts.prefix ?? 'cdc';
    this.retainedWalWarnBytes = opts.retainedWalWarnBytes ?? 0;
    const r = this.registry;
    // collect() runs with `this` bound to the metric: the connector's state is reached through these.
    const sinkOf = () => this.#sink;
    const events = this.#events;
    const snapshots = this.snapshots;
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read());
        },
      });
    const p = (k: keyof ProcessorTotals) => () => this.#base[k] + (this.#processor?.stats[k] ?? 0);

    total('sluice_changes_total', 'Row changes read from the replication stream.', p('changes'));
    total('sluice_transactions_total', 'Source transactions read.', p('transactions'));
    total(
      'sluice_positions_skipped_total',
      'Events not published again because their stream already held their position (replay after a restart).',
      p('skipped'),
    );
    total(
      'sluice_fact_reads_total',
      'Latest facts read back from the facts stream (previous rows missing from the row cache).',
      p('fetches'),
    );
    total(
      'sluice_large_events_total',
      'Events larger than max_payload stored whole in the object store (published as references).',
      p('large'),
    );
    total(
      'sluice_database_reads_total',
      'Rows read from the source database for unchanged TOAST values Sluice never saw.',
      p('dbReads'),
    );
    const perStream = (read: (s: CountedSink | null, i: number) => number, base: number[]) =>
      function (this: Counter<'stream'>) {
        this.reset();
        STREAMS.forEach((stream, i) => this.inc({ stream }, base[i]! + read(sinkOf(), i)));
      };
    new Counter({
      name: 'sluice_messages_published_total',
      help: 'Messages published to JetStream, by stream (facts, deltas, events, dlq).',
      labelNames: ['stream'],
      registers: [r],
      collect: perStream((s, i) => s?.stats.published[i] ?? 0, this.#base.published),
    });
    new Counter({
      name: 'sluice_messages_acked_total',
      help: 'Messages acknowledged by JetStream, by stream.',
      labelNames: ['stream'],
      registers: [r],
      collect: perStream((s, i) => s?.stats.acked[i] ?? 0, this.#base.acked),
    });
    total(
      'sluice_published_bytes_total',
      'Bytes of message bodies published.',
      () => this.#base.bytes + (this.#sink?.stats.bytes ?? 0),
    );
    total(
      'sluice_duplicates_total',
      'Publishes JetStream reported as duplicates (each ends the session, which resynchronises).',
      () => this.#base.duplicates + (this.#sink?.stats.duplicates ?? 0),
    );
    new Counter({
      name: 'sluice_events_published_total',
      help: 'Events published, by kind (fact, delta, tx, heartbeat, events, dlq), table and operation.',
      labelNames: ['kind', 'table', 'op'],
      registers: [r],
      collect() {
        this.reset();
        for (const e of events.values()) this.inc({ kind: e.kind, table: e.table, op: e.op }, e.n);
      },
    });
    gauge(
      'sluice_in_flight',
      'Messages published and not yet acknowledged.',
      () => this.#sink?.inFlight ?? 0,
    );
    gauge(
      'sluice_in_flight_bytes',
      'Bytes of messages published and not yet acknowledged.',
      () => this.#sink?.inFlightBytes ?? 0,
    );
    total(
      'sluice_session_failures_total',
      'Sessions that ended in an error and were restarted.',
      () => this.sessionFailures,
    );
    total('sluice_sessions_total', 'Replication sessions started.', () => this.#status?.sessions ?? 0);
    gauge('sluice_streaming', '1 while a session is streaming (what /readyz reports).', () =>
      this.#status?.state === 'streaming' ? 1 : 0,
    );
    gauge(
      'sluice_confirmed_lsn',
      "The slot's confirmed position as reported by this connector (LSN as a number).",
      () => Number(this.#status?.confirmedLsn ?? 0n),
    );
    gauge(
      'sluice_slot_lag_bytes',
      'WAL bytes between the server and the confirmed position.',
      () => this.lagBytes,
    );
    gauge(
      'sluice_replication_lag_seconds',
      'Age of the oldest transaction read and not yet acknowledged (0 when caught up).',
      () => this.lagSeconds(),
    );
    gauge(
      'sluice_slot_retained_wal_bytes',
      'WAL the slot keeps the server from removing (pg_current_wal_lsn() − restart_lsn).',
      () => this.retainedWalBytes,
    );
    gauge('sluice_slot_retained_wal_warning', '1 when the retained WAL is above retainedWalWarnBytes.', () =>
      this.retainedWalWarning ? 1 : 0,
    );
    this.#commitAck = new Histogram({
      name: 'sluice_commit_ack_seconds',
      help: "From a transaction's commit in PostgreSQL to the acknowledgement of all its events.",
      buckets: [...COMMIT_ACK_BUCKETS],
      registers: [r],
    });
    total(
      'sluice_heartbeats_written_total',
      'Heartbeats committed in the source database.',
      () => this.heartbeatsWritten,
    );
    total(
      'sluice_heartbeats_published_total',
      'Position heartbeats published on the deltas stream.',
      () => this.#base.heartbeats + (this.#heartbeats?.stats.published ?? 0),
    );
    total('sluice_snapshot_rows_total', 'Snapshot facts published.', () => this.snapshotRows);
    gauge('sluice_snapshot_active', '1 while a table snapshot is running.', () => this.snapshotActive);
    new Gauge({
      name: 'sluice_snapshot_rows_done',
      help: 'Rows done of the table snapshot.',
      labelNames: ['table'],
      registers: [r],
      collect() {
        for (const [table, s] of snapshots) this.set({ table }, s.done);
      },
    });
    new Gauge({
      name: 'sluice_snapshot_rows_estimated',
      help: 'Estimated rows of the table snapshot.',
      labelNames: ['table'],
      registers: [r],
      collect() {
        for (const [table, s] of snapshots) this.set({ table }, s.total);
      },
    });
  }

  /** The connector's status object, read at scrape time. */
  watchStatus(status: StatusView): void {
    this.#status = status;
  }

  /** A new session's processor, sink and heartbeat publisher; the old ones' counters are kept. */
  attach(processor: CountedProcessor, sink: CountedSink, heartbeats: CountedHeartbeats | null = null): void {
    const b = this.#base;
    if (this.#processor) {
      const s = this.#processor.stats;
      b.changes += s.changes;
      b.transactions += s.transactions;
      b.skipped += s.skipped;
      b.fetches += s.fetches;
      b.large += s.large;
      b.dbReads += s.dbReads;
    }
    if (this.#sink) {
      const s = this.#sink.stats;
      STREAMS.forEach((_, i) => {
        b.published[i]! += s.published[i] ?? 0;
        b.acked[i]! += s.acked[i] ?? 0;
      });
      b.bytes += s.bytes;
      b.duplicates += s.duplicates;
    }
    if (this.#heartbeats) b.heartbeats += this.#heartbeats.stats.published;
    this.#processor = processor;
    this.#sink = sink;
    this.#heartbeats = heartbeats;
    // Transactions of the ended session are read again by the next one.
    this.#commits = [];
    this.#commitsHead = 0;
  }

  snapshotProgress(table: string, done: number, total: number, rate: number): void {
    this.snapshots.set(table, { done, total, rate });
  }

  /**
   * Counts one published message by its subject. Keys are the last token of a subject, so the
   * rest names kind, table and operation: one map lookup per message, parsed once per table.
   */
  countEvent(subject: string): void {
    const head = subject.slice(0, subject.lastIndexOf('.'));
    let e = this.#events.get(head);
    if (!e) {
      const s = parseSubject(this.#prefix, subject);
      e = {
        kind: s?.kind ?? subject.split('.')[1] ?? 'other',
        table: s?.schema !== undefined ? `${s.schema}.${s.table}` : '',
        op: s?.op ?? '',
        n: 0,
      };
      this.#events.set(head, e);
    }
    e.n++;
  }

  /** A transaction's COMMIT was read (pgoutput's commit time: microseconds since 2000-01-01). */
  commitRead(endLsn: bigint, commitTime: bigint): void {
    if (this.#commits.length - this.#commitsHead >= MAX_TIMED_COMMITS) return;
    this.#commits.push([endLsn, Number((commitTime + PG_EPOCH_US) / 1000n)]);
  }

  /** Every transaction ending at or before `endLsn` is acknowledged. */
  checkpoint(endLsn: bigint, now = Date.now()): void {
    const c = this.#commits;
    while (this.#commitsHead < c.length && c[this.#commitsHead]![0] <= endLsn) {
      this.#commitAck.observe(Math.max(0, now - c[this.#commitsHead]![1]) / 1000);
      this.#commitsHead++;
    }
    if (this.#commitsHead > 1024 && this.#commitsHead * 2 > c.length) {
      c.splice(0, this.#commitsHead);
      this.#commitsHead = 0;
    }
  }

  /** Seconds since the commit of the oldest transaction read and not yet acknowledged; 0 when none. */
  lagSeconds(now = Date.now()): number {
    const oldest = this.#commits[this.#commitsHead];
    return oldest ? Math.max(0, now - oldest[1]) / 1000 : 0;
  }

  /** Whether the retained WAL is above the warning threshold. */
  get retainedWalWarning(): boolean {
    return this.retainedWalWarnBytes > 0 && this.retainedWalBytes > this.retainedWalWarnBytes;
  }

  /** Current totals (for `sluice demo`'s summary). */
  totals() {
    const p = this.#processor?.stats;
    const s = this.#sink?.stats;
    const b = this.#base;
    return {
      changes: b.changes + (p?.changes ?? 0),
      transactions: b.transactions + (p?.transactions ?? 0),
      published: sum(b.published) + sum(s?.published ?? []),
      acked: sum(b.acked) + sum(s?.acked ?? []),
      bytes: b.bytes + (s?.bytes ?? 0),
      inFlight: this.#sink?.inFlight ?? 0,
    };
  }

  /** The Prometheus text of every metric on the registry (the connector's and any other part's). */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
