/**
 * The read-model daemon's metrics on the process's Prometheus registry (observability/): what it
 * applies (facts by source table, recomputed keys by model), how long a batch takes, how far the
 * source's commits are from the models (commit → model latency, facts not yet applied) and how far
 * a rebuild or a replica load has come. `sluice read-models run` serves them with the query API's
 * `/metrics`.
 */
import {
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  type Registry,
} from '../../observability/metrics-registry.js';
import type { SourceTransaction } from './transaction-assembler.js';

/** Upper bounds (seconds) of the apply-batch duration histogram. */
export const APPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** Upper bounds (seconds) of the source commit → model commit latency histogram. */
export const COMMIT_LATENCY_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
] as const;

/** Milliseconds a scrape waits for the facts stream's end before showing the last one. */
const PROBE_DEADLINE_MS = 2000;
/** Milliseconds during which one answer serves every scrape. */
const PROBE_FRESH_MS = 1000;

export class ReadModelMetrics {
  readonly registry: Registry;
  readonly #facts: Counter<'table'>;
  readonly #keys: Counter<'model'>;
  readonly #apply: Histogram;
  readonly #latency: Histogram;
  readonly #rebuildDone: Gauge<'model'>;
  readonly #rebuildEstimated: Gauge<'model'>;
  readonly #loadDone: Gauge<'table'>;
  readonly #loadEstimated: Gauge<'table'>;
  /** Last facts-stream sequence applied (the read database's position). */
  appliedSeq = 0;
  /** The facts stream's last sequence, as last asked. */
  #lastSeq = 0;
  #asked = 0;
  #asking: Promise<void> | null = null;
  /** Asks the facts stream's last sequence; set by the daemon while it runs. */
  lastSeqProbe: (() => Promise<number>) | null = null;

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    const r = [registry];
    this.#facts = new Counter({
      name: 'sluice_read_model_facts_applied_total',
      help: 'Facts applied to the replica (the tables the models read), by source table.',
      labelNames: ['table'],
      registers: r,
    });
    this.#keys = new Counter({
      name: 'sluice_read_model_keys_recomputed_total',
      help: 'Model rows recomputed by incremental maintenance (affected keys), by model.',
      labelNames: ['model'],
      registers: r,
    });
    this.#apply = new Histogram({
      name: 'sluice_read_model_apply_seconds',
      help: 'Duration of one applied batch of whole source transactions (one read-database transaction).',
      buckets: [...APPLY_BUCKETS],
      registers: r,
    });
    this.#latency = new Histogram({
      name: 'sluice_read_model_commit_latency_seconds',
      help: 'Source transaction commit (tx.commitTime) to the commit of the read-database transaction that applied it.',
      buckets: [...COMMIT_LATENCY_BUCKETS],
      registers: r,
    });
    // collect() runs with `this` bound to the metric: the daemon's state is reached through these.
    const lag = async () => {
      await this.#ask();
      return Math.max(0, this.#lastSeq - this.appliedSeq);
    };
    const appliedSeq = () => this.appliedSeq;
    new Gauge({
      name: 'sluice_read_model_lag_facts',
      help: 'Facts in the facts stream not yet applied (its last sequence minus the applied one).',
      registers: r,
      async collect() {
        this.set(await lag());
      },
    });
    new Gauge({
      name: 'sluice_read_model_applied_seq',
      help: 'Sequence of the facts stream the read database reflects.',
      registers: r,
      collect() {
        this.set(appliedSeq());
      },
    });
    this.#rebuildDone = new Gauge({
      name: 'sluice_read_model_rebuild_rows_done',
      help: 'Rows written by the running or last rebuild of a model (set when its table is swapped in).',
      labelNames: ['model'],
      registers: r,
    });
    this.#rebuildEstimated = new Gauge({
      name: 'sluice_read_model_rebuild_rows_estimated',
      help: "Rows the planner expects a model's rebuild to write (EXPLAIN of its SQL).",
      labelNames: ['model'],
      registers: r,
    });
    this.#loadDone = new Gauge({
      name: 'sluice_read_model_replica_load_facts_done',
      help: 'Facts loaded into a new replica table from the facts stream.',
      labelNames: ['table'],
      registers: r,
    });
    this.#loadEstimated = new Gauge({
      name: 'sluice_read_model_replica_load_facts_estimated',
      help: "Facts of the table in the facts stream when its replica's load started.",
      labelNames: ['table'],
      registers: r,
    });
  }

  /**
   * One batch committed in the read database at `committedAt` (ms since the epoch) after
   * `seconds`; `keys` is each model's number of recomputed keys.
   */
  applied(
    batch: readonly SourceTransaction[],
    seconds: number,
    committedAt: number,
    keys: ReadonlyMap<string, number>,
  ): void {
    this.#apply.observe(seconds);
    const byTable = new Map<string, number>();
    for (const tx of batch) {
      for (const f of tx.facts) byTable.set(f.table, (byTable.get(f.table) ?? 0) + 1);
      // Snapshot chunks are no source transaction: their "commit" is the chunk's watermark.
      if (tx.snapshotOnly) continue;
      const at = commitTimeMs(tx);
      if (at !== null) this.#latency.observe(Math.max(0, committedAt - at) / 1000);
    }
    for (const [table, n] of byTable) this.#facts.inc({ table }, n);
    for (const [model, n] of keys) this.#keys.inc({ model }, n);
    if (batch.length) this.appliedSeq = batch[batch.length - 1]!.lastSeq;
  }

  rebuildStarted(model: string, estimatedRows: number): void {
    this.#rebuildEstimated.set({ model }, estimatedRows);
    this.#rebuildDone.set({ model }, 0);
  }

  rebuildDone(model: string, rows: number): void {
    this.#rebuildDone.set({ model }, rows);
  }

  replicaLoad(table: string, done: number, estimated: number): void {
    this.#loadDone.set({ table }, done);
    this.#loadEstimated.set({ table }, Math.max(done, estimated));
  }

  async #ask(): Promise<void> {
    const probe = this.lastSeqProbe;
    if (!probe || Date.now() - this.#asked < PROBE_FRESH_MS) return;
    this.#asking ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        this.#lastSeq = await Promise.race([
          probe(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('no answer in time')), PROBE_DEADLINE_MS);
          }),
        ]);
      } catch {
        // NATS away: the last answer stands.
      } finally {
        clearTimeout(timer);
        this.#asked = Date.now();
        this.#asking = null;
      }
    })();
    return this.#asking;
  }
}

/** Commit time (ms since the epoch) of a source transaction, from its facts' `tx.commitTime`. */
function commitTimeMs(tx: SourceTransaction): number | null {
  const iso = tx.facts.find((f) => f.commitTime)?.commitTime;
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}
