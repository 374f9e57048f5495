/**
 * Counters and gauges of the running connector, rendered in the Prometheus text format on
 * /metrics. Hand-written: a handful of series do not justify a registry library, and reading them
 * costs nothing on the hot path (the pipeline already keeps these counters).
 */
import type { ChangeProcessor } from '../events/change-processor.js';
import type { JetStreamSink } from '../sink/jetstream-sink.js';

export class Metrics {
  #processor: ChangeProcessor | null = null;
  #sink: JetStreamSink | null = null;
  /** Totals carried over from finished sessions. */
  #base = { changes: 0, transactions: 0, published: 0, acked: 0, bytes: 0 };
  sessionFailures = 0;
  snapshotRows = 0;
  snapshotActive = 0;
  readonly snapshots = new Map<string, { done: number; total: number; rate: number }>();
  /** Bytes between the server's WAL end and the slot's confirmed position (set by the status poller). */
  lagBytes = 0;

  attach(processor: ChangeProcessor, sink: JetStreamSink): void {
    if (this.#processor && this.#sink) {
      this.#base.changes += this.#processor.stats.changes;
      this.#base.transactions += this.#processor.stats.transactions;
      this.#base.published += this.#sink.stats.published[0]! + this.#sink.stats.published[1]!;
      this.#base.acked += this.#sink.stats.acked[0]! + this.#sink.stats.acked[1]!;
      this.#base.bytes += this.#sink.stats.bytes;
    }
    this.#processor = processor;
    this.#sink = sink;
  }

  snapshotProgress(table: string, done: number, total: number, rate: number): void {
    this.snapshots.set(table, { done, total, rate });
  }

  /** Current totals. */
  totals() {
    const p = this.#processor?.stats;
    const s = this.#sink?.stats;
    return {
      changes: this.#base.changes + (p?.changes ?? 0),
      transactions: this.#base.transactions + (p?.transactions ?? 0),
      published: this.#base.published + (s ? s.published[0]! + s.published[1]! : 0),
      acked: this.#base.acked + (s ? s.acked[0]! + s.acked[1]! : 0),
      bytes: this.#base.bytes + (s?.bytes ?? 0),
      inFlight: this.#sink?.inFlight ?? 0,
    };
  }

  render(): string {
    const t = this.totals();
    const lines = [
      '# HELP sluice_changes_total Row changes read from the replication stream.',
      '# TYPE sluice_changes_total counter',
      `sluice_changes_total ${t.changes}`,
      '# HELP sluice_transactions_total Source transactions read.',
      '# TYPE sluice_transactions_total counter',
      `sluice_transactions_total ${t.transactions}`,
      '# HELP sluice_messages_published_total Messages published to JetStream.',
      '# TYPE sluice_messages_published_total counter',
      `sluice_messages_published_total ${t.published}`,
      '# HELP sluice_messages_acked_total Messages acknowledged by JetStream.',
      '# TYPE sluice_messages_acked_total counter',
      `sluice_messages_acked_total ${t.acked}`,
      '# HELP sluice_published_bytes_total Bytes of message bodies published.',
      '# TYPE sluice_published_bytes_total counter',
      `sluice_published_bytes_total ${t.bytes}`,
      '# HELP sluice_in_flight Messages published and not yet acknowledged.',
      '# TYPE sluice_in_flight gauge',
      `sluice_in_flight ${t.inFlight}`,
      '# HELP sluice_session_failures_total Sessions that ended in an error and were restarted.',
      '# TYPE sluice_session_failures_total counter',
      `sluice_session_failures_total ${this.sessionFailures}`,
      '# HELP sluice_slot_lag_bytes WAL bytes between the server and the confirmed position.',
      '# TYPE sluice_slot_lag_bytes gauge',
      `sluice_slot_lag_bytes ${this.lagBytes}`,
      '# HELP sluice_snapshot_rows_total Snapshot facts published.',
      '# TYPE sluice_snapshot_rows_total counter',
      `sluice_snapshot_rows_total ${this.snapshotRows}`,
      '# HELP sluice_snapshot_active 1 while a table snapshot is running.',
      '# TYPE sluice_snapshot_active gauge',
      `sluice_snapshot_active ${this.snapshotActive}`,
      '# HELP sluice_snapshot_rows_done Rows done of the table snapshot.',
      '# TYPE sluice_snapshot_rows_done gauge',
      ...[...this.snapshots].map(([table, s]) => `sluice_snapshot_rows_done{table="${table}"} ${s.done}`),
      '# HELP sluice_snapshot_rows_estimated Estimated rows of the table snapshot.',
      '# TYPE sluice_snapshot_rows_estimated gauge',
      ...[...this.snapshots].map(
        ([table, s]) => `sluice_snapshot_rows_estimated{table="${table}"} ${s.total}`,
      ),
    ];
    return lines.join('\n') + '\n';
  }
}
