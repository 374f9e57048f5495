/**
 * The read-model daemon (`sluice read-models run`): reads the facts stream from the position the
 * read database holds, assembles whole source transactions, and applies them in batches with the
 * maintainer. One process per read database (a session advisory lock). kill -9 at any instant is
 * safe: the position is written in the same transaction as the data it reflects.
 */
import { loadSqlParser } from './sql-parser.js';
import { analyzeModel, UnsupportedSqlError } from './sql-analysis.js';
import type { ReadModelsConfig } from './config.js';
import { ReadModelError, ReadModelErrorCodes } from './errors.js';
import { FactSource, type FactReader } from './fact-source.js';
import { endStaleWriter, WriterBeat } from './writer-liveness.js';
import { ReadDb } from './read-db.js';
import { replicaTableFrom, type ReplicaTable } from './replica-table.js';
import { Maintainer, modelHash, type ModelRuntime, type Position } from './maintainer.js';
import { TransactionAssembler, type SourceTransaction } from './transaction-assembler.js';
import { ReadModelMetrics } from './read-model-metrics.js';

/** What the daemon logs through (pino's shape). */
export interface ReadModelsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Advisory lock key of the read-model writer in the read database. */
const LOCK_KEY = 0x51ce_0001;
/** Milliseconds to wait for facts before looking at the open transaction again. */
const IDLE_WAIT_MS = 100;
/** Milliseconds without a delivered fact after which the reader is checked against the stream's end. */
const TAIL_CHECK_MS = 150;
/** Milliseconds without a delivered fact, with more stored, after which the reader is replaced. */
const READER_STALL_MS = 10_000;
/** Milliseconds between looks at the newest position heartbeat while caught up. */
const HEARTBEAT_CHECK_MS = 200;

/** Parses and checks every model's SQL; the first one outside the subset stops the start. */
export async function planModels(cfg: ReadModelsConfig): Promise<ModelRuntime[]> {
  await loadSqlParser();
  return cfg.readModels.map((def) => {
    try {
      const plan = analyzeModel(def.sql, def.key, cfg.readModelsSourceSchema);
      return { def, plan, hash: modelHash(def, plan) };
    } catch (e) {
      if (e instanceof UnsupportedSqlError)
        throw new ReadModelError(
          ReadModelErrorCodes.unsupportedSql,
          `read model "${def.name}": ${e.message}.`,
          {
            hint: 'See docs/read-models.md for the supported SQL.',
          },
        );
      throw e;
    }
  });
}

/** An open read database with the replica and models prepared. */
export interface ReadModelsSession {
  readonly db: ReadDb;
  readonly facts: FactSource;
  readonly maintainer: Maintainer;
  readonly models: ModelRuntime[];
  readonly replicas: Map<string, ReplicaTable>;
  close(): Promise<void>;
}

/**
 * Connects, takes the writer lock (`busy` error when another process holds it), creates the
 * bookkeeping and replica tables, loads replica tables that are new, and rebuilds models that are
 * missing or whose SQL changed.
 */
export async function openSession(
  cfg: ReadModelsConfig,
  log: ReadModelsLogger,
  metrics: ReadModelMetrics = new ReadModelMetrics(),
): Promise<ReadModelsSession> {
  const models = await planModels(cfg);
  const db = await ReadDb.connect(cfg.readDatabaseUrl, 'sluice-read-models');
  let facts: FactSource | null = null;
  let beat: WriterBeat | null = null;
  try {
    if (!(await db.tryLock(LOCK_KEY)))
      throw new ReadModelError(
        ReadModelErrorCodes.busy,
        'another sluice read-models process writes this read database.',
        {
          hint: 'Run one "sluice read-models run" per read database; stop the other one first.',
        },
      );
    beat = await WriterBeat.start(cfg.readDatabaseUrl, db);
    facts = await FactSource.connect({
      ...cfg,
      name: 'sluice-read-models',
    });
    await Maintainer.prepare(db, cfg.readModelsSchema);
    const replicas = new Map<string, ReplicaTable>();
    for (const m of models)
      for (const t of m.plan.tables) {
        const name = `${t.schema}.${t.table}`;
        if (replicas.has(name)) continue;
        const versions = await facts.tableSchema(t.schema, t.table);
        const replica = versions ? replicaTableFrom(t.schema, t.table, versions) : null;
        if (!replica)
          throw new ReadModelError(
            ReadModelErrorCodes.unknownTable,
            `read model "${m.def.name}" reads ${name}, which has no facts in the ${cfg.prefix} streams${versions ? ' (it has no primary key)' : ''}.`,
            {
              hint: versions
                ? 'Give the table a primary key (or a replica identity index).'
                : 'Check the table name, and that the connector (sluice run) captures it and has started.',
            },
          );
        replicas.set(name, replica);
      }
    const maintainer = new Maintainer(db, cfg.readModelsSchema, replicas, models);
    const created = await maintainer.createReplicas();
    for (const [name, v] of await maintainer.builtVersions()) {
      const t = replicas.get(name);
      if (t && v !== t.schemaVersion) await maintainer.evolveReplica(t);
    }
    const pos = await maintainer.replicaPosition();
    for (const name of created) {
      if (pos.streamSeq === 0) continue;
      const n = await loadTable(facts, maintainer, replicas.get(name)!, pos, metrics);
      log.info(
        { module: 'read-models', table: name, facts: n },
        `replica table ${name} loaded from the facts stream`,
      );
    }
    for (const m of await maintainer.staleModels()) {
      const rows = await rebuildModel(maintainer, m, metrics);
      log.info(
        { module: 'read-models', model: m.def.name, rows },
        `read model ${m.def.name} built from the replica`,
      );
    }
    const [f, b] = [facts, beat];
    return {
      db,
      facts: f,
      maintainer,
      models,
      replicas,
      close: async () => {
        await b.stop();
        await f.close();
        await db.close();
      },
    };
  } catch (e) {
    await beat?.stop();
    await facts?.close();
    await db.close();
    throw e;
  }
}

/**
 * Loads one new replica table from the facts stream up to the replica's position. Facts of its
 * rows that changed later are compacted away; those rows arrive with the main loop.
 */
async function loadTable(
  facts: FactSource,
  m: Maintainer,
  t: ReplicaTable,
  upTo: Position,
  metrics: ReadModelMetrics,
): Promise<number> {
  const reader = await facts.reader(0, t);
  const table = `${t.schema}.${t.table}`;
  let n = 0;
  try {
    for (;;) {
      const got = await reader.next(5000, 1000);
      const batch = got.filter((f) => f.seq <= upTo.streamSeq);
      if (batch.length) {
        await m.loadReplica(t, batch);
        n += batch.length;
        metrics.replicaLoad(table, n, n + Math.max(0, reader.pending));
      }
      // Done at the replica's position, at the stream's end, or when nothing more comes.
      if (got.length === 0 || batch.length < got.length || reader.caughtUp) break;
    }
  } finally {
    await reader.close();
  }
  return n;
}

/** Rebuilds a model from the replica, with its progress in the metrics. */
export async function rebuildModel(
  m: Maintainer,
  model: ModelRuntime,
  metrics: ReadModelMetrics,
): Promise<number> {
  metrics.rebuildStarted(model.def.name, await m.estimateRows(model).catch(() => 0));
  const rows = await m.rebuild(model);
  metrics.rebuildDone(model.def.name, rows);
  return rows;
}

/** Milliseconds between attempts at the writer lock while another process holds it. */
const STANDBY_RETRY_MS = 1000;

/**
 * The writer's session, waiting (standing by) while another process holds the read database's
 * writer lock: when that process stops or dies its session ends, PostgreSQL releases the lock, and
 * this one takes over within STANDBY_RETRY_MS. Null when `signal` aborts first. The lock is also the
 * fence: every write goes through the session that holds it, so a paused old writer cannot write
 * after a takeover (there is none while it lives: its session keeps the lock).
 */
async function writerSession(
  cfg: ReadModelsConfig,
  log: ReadModelsLogger,
  signal: AbortSignal,
  metrics: ReadModelMetrics,
): Promise<ReadModelsSession | null> {
  let standing = false;
  // The standby's own connection, to see whether the writer still beats (writer-liveness.ts).
  let probe: ReadDb | null = null;
  try {
    while (!signal.aborted) {
      try {
        const s = await openSession(cfg, log, metrics);
        if (standing) log.info({ module: 'read-models' }, 'writer lock taken: this process takes over');
        return s;
      } catch (e) {
        if (!(e instanceof ReadModelError) || e.code !== ReadModelErrorCodes.busy) throw e;
        if (!standing) {
          standing = true;
          log.info(
            { module: 'read-models' },
            'standing by: another sluice read-models process writes this read database; taking over when it stops',
          );
        }
        probe ??= await ReadDb.connect(cfg.readDatabaseUrl, 'sluice-read-models-standby');
        await endStale(probe, log);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, STANDBY_RETRY_MS);
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    await probe?.close();
  }
  return null;
}

/** Ends the session of a writer that stopped beating (paused or hung), so the lock frees up. */
async function endStale(probe: ReadDb, log: ReadModelsLogger): Promise<void> {
  try {
    const ended = await endStaleWriter(probe, LOCK_KEY);
    if (ended)
      log.warn(
        { module: 'read-models', writerPid: ended.pid, lastBeatMs: ended.ageMs },
        `the writer has not beaten for ${ended.ageMs} ms (paused or hung): ended its session to take over`,
      );
  } catch (err) {
    log.warn(
      { module: 'read-models', err },
      'cannot end the session of a writer that stopped beating: grant this role pg_signal_backend, or run the daemons as the same role',
    );
  }
}

/**
 * Runs the daemon until `signal` aborts. `onApplied` is called after each committed batch; `onReady`
 * once the models are checked, the writer lock taken and the models built (the CLI starts the
 * query API there), before the first fact is read.
 */
export async function runReadModels(
  cfg: ReadModelsConfig,
  log: ReadModelsLogger,
  signal: AbortSignal,
  onApplied: (pos: Position) => void = () => undefined,
  onReady: () => Promise<void> = async () => undefined,
  metrics: ReadModelMetrics = new ReadModelMetrics(),
): Promise<void> {
  const s = await writerSession(cfg, log, signal, metrics);
  if (!s) return;
  let reader: FactReader | null = null;
  try {
    await onReady();
    let pos = await s.maintainer.replicaPosition();
    metrics.appliedSeq = pos.streamSeq;
    metrics.lastSeqProbe = () => s.facts.factsLastSeq();
    log.info(
      { module: 'read-models', models: s.models.map((m) => m.def.name), streamSeq: pos.streamSeq },
      'read models running',
    );
    reader = await s.facts.reader(pos.streamSeq);
    const assembler = new TransactionAssembler();
    const completeness = new OpenTxCheck(s.facts);
    let batch: SourceTransaction[] = [];
    let batchFacts = 0;
    let lastRebuildCheck = 0;
    let lastHeartbeatCheck = 0;
    let lastTailCheck = 0;
    let confirmedHeartbeat = 0n;
    while (!signal.aborted) {
      const got = await reader.next(cfg.readModelsBatchFacts, IDLE_WAIT_MS);
      if (
        !got.length &&
        !reader.caughtUp &&
        reader.idleMs > TAIL_CHECK_MS &&
        Date.now() - lastTailCheck > TAIL_CHECK_MS
      ) {
        // The server's pending count can stay above zero at the stream's end: it overcounts a
        // filtered consumer's range with interior deletes (facts compacted per key). Trusting it
        // left the last transaction open (unapplied) until the next one arrived. The stream's last
        // sequence decides.
        lastTailCheck = Date.now();
        const last = await s.facts.factsLastSeq();
        if (last <= reader.lastSeq) reader.atStreamEnd();
        else if (reader.idleMs > READER_STALL_MS) {
          // Facts stored and none delivered for a while: a stalled consumer. Every fact handed out
          // is in the assembler or applied, so a new reader continues exactly after it.
          log.warn(
            { module: 'read-models', readerSeq: reader.lastSeq, streamSeq: last, idleMs: reader.idleMs },
            'the facts reader delivered nothing while the stream holds more; reading on with a new consumer',
          );
          await reader.close();
          reader = await s.facts.reader(reader.lastSeq);
        }
      }
      for (const f of got) {
        const done = assembler.push(f);
        if (done) {
          batch.push(done);
          batchFacts += done.facts.length;
        }
      }
      const open = assembler.open();
      if (open && reader.caughtUp && (await completeness.isComplete(open))) {
        batch.push(assembler.take()!);
        batchFacts += open.facts.length;
      }
      if (batch.length && (batchFacts >= cfg.readModelsBatchFacts || got.length < cfg.readModelsBatchFacts)) {
        await evolveReplicas(s, batch, log);
        const started = performance.now();
        const keys = await s.maintainer.apply(batch);
        metrics.applied(batch, (performance.now() - started) / 1000, Date.now(), keys);
        pos = {
          streamSeq: batch[batch.length - 1]!.lastSeq,
          lsn: batch[batch.length - 1]!.lsn,
          commitTime: null,
        };
        log.debug({ module: 'read-models', transactions: batch.length, facts: batchFacts }, 'applied');
        onApplied(pos);
        batch = [];
        batchFacts = 0;
      }
      // Idle: a position heartbeat moves the position once every fact published before it is
      // applied. The heartbeat is read first, the facts stream's end after it: the heartbeat was
      // published after its facts were acknowledged, so they lie at or before that end.
      if (
        !batch.length &&
        !assembler.open() &&
        reader.caughtUp &&
        Date.now() - lastHeartbeatCheck >= HEARTBEAT_CHECK_MS
      ) {
        lastHeartbeatCheck = Date.now();
        const hb = await s.facts.latestHeartbeat();
        if (hb && hb.lsn > confirmedHeartbeat && reader.lastSeq >= (await s.facts.factsLastSeq())) {
          await s.maintainer.confirmHeartbeat(hb.lsn);
          confirmedHeartbeat = hb.lsn;
        }
      }
      if (Date.now() - lastRebuildCheck > 1000) {
        lastRebuildCheck = Date.now();
        for (const m of await s.maintainer.requestedRebuilds()) {
          const rows = await rebuildModel(s.maintainer, m, metrics);
          log.info({ module: 'read-models', model: m.def.name, rows }, `read model ${m.def.name} rebuilt`);
        }
      }
    }
  } finally {
    metrics.lastSeqProbe = null;
    await reader?.close();
    await s.close();
  }
}

/** A fact of a newer source layout (a column added or retyped) first brings its replica table along. */
async function evolveReplicas(
  s: ReadModelsSession,
  batch: SourceTransaction[],
  log: ReadModelsLogger,
): Promise<void> {
  for (const tx of batch)
    for (const f of tx.facts) {
      const t = s.replicas.get(f.table);
      if (!t || f.schemaVersion <= t.schemaVersion) continue;
      const versions = await s.facts.tableSchema(t.schema, t.table);
      const next = versions ? replicaTableFrom(t.schema, t.table, versions) : null;
      if (!next || next.schemaVersion < f.schemaVersion)
        throw new Error(`schema version ${f.schemaVersion} of ${f.table} is not in the schema registry`);
      await s.maintainer.evolveReplica(next);
      log.info(
        { module: 'read-models', table: f.table, schemaVersion: next.schemaVersion },
        `replica table ${f.table} follows the source's new layout`,
      );
    }
}

/**
 * Decides whether the transaction at the tail of the facts stream is whole. Facts trail deltas, so
 * the commit marker alone does not say the facts are all stored: the marker's transaction is whole
 * once the fact of its last change that has a fact (the last delta before the marker with a key)
 * is read. Snapshot chunks have no marker and are applied as read.
 */
class OpenTxCheck {
  readonly #facts: FactSource;
  #lsn = -1n;
  #needSeq: number | null | undefined = undefined;

  constructor(facts: FactSource) {
    this.#facts = facts;
  }

  async isComplete(tx: SourceTransaction): Promise<boolean> {
    if (tx.snapshotOnly || tx.txId === null) return true;
    if (tx.lsn !== this.#lsn) {
      this.#lsn = tx.lsn;
      this.#needSeq = undefined;
    }
    if (this.#needSeq === undefined) {
      const marker = await this.#facts.commitMarker(tx.txId);
      if (!marker || marker.lsn !== tx.lsn) {
        // The deltas stream's age limit removed the marker of a transaction this old: it was
        // published whole long ago.
        const first = marker ? null : await this.#facts.deltasFirstLsn();
        return first !== null && first > tx.lsn;
      }
      this.#needSeq = null;
      for (let seq = marker.seq - 1; seq >= Math.max(1, marker.seq - marker.events); seq--) {
        const d = await this.#facts.deltaAt(seq);
        if (!d || d.lsn !== tx.lsn) break;
        if (d.hasFact) {
          this.#needSeq = d.txSeq;
          break;
        }
      }
    }
    const need = this.#needSeq;
    return need === null || tx.facts.some((f) => f.txSeq >= need);
  }
}
