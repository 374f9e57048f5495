/**
 * The composition root of the connector daemon: wires the replication source, the change
 * processor and the JetStream sink into sessions, and restarts a failed session from the durable
 * checkpoint with backoff.
 *
 * A session is one replication connection plus one sink. Anything unexpected (publish rejected,
 * ack timeout, NATS or PostgreSQL connection lost, a protocol surprise) ends the session; the next
 * one re-reads where the streams stand and where the slot stands and carries on from there. The
 * slot's confirmed position only moves past transactions whose every message JetStream
 * acknowledged, so nothing is lost across sessions or process crashes.
 */
import { writeSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectToNats } from '../connections/nats-connect.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import type pg from 'pg';
import type { Config } from './config.js';
import type { ConnectorStatus } from './ports.js';
import { ErrorCodes, SluiceError, describeError, natsConnectError, sessionError } from './errors.js';
import type { Logger } from './logger.js';
import { ReplicationStream } from './source/replication-stream.js';
import type { PgoutputMessage } from './source/pgoutput.js';
import {
  checkServer,
  connectSql,
  ensureSlot,
  listTables,
  pgCatalog,
  pgRowSource,
  planPublications,
  publicationNames,
  publishedTables,
  reconcilePublications,
  serverFacts,
  tableColumns,
  type TableRow,
} from './source/setup.js';
import { checkColumnPolicy, ColumnPolicy } from './events/column-policy.js';
import { ChangeProcessor } from './events/change-processor.js';
import { loadEventContracts } from './events/contracts-module.js';
import type { EventContracts } from '../schemas/outbox.js';
import { RowCache } from './events/row-cache.js';
import { JetStreamSink } from './sink/jetstream-sink.js';
import { idleConfirmable, movesConfirmed } from './sink/checkpoint.js';
import {
  ensureStreams,
  lastFact,
  lastSeqOf,
  manager,
  purgeBelow,
  streamState,
  subjectHead,
  JS_API_TIMEOUT_MS,
} from './sink/streams.js';
import { KvSchemaRegistry, openSchemaBucket } from './sink/schema-store.js';
import { EventValidator } from './events/event-validator.js';
import { LargeEventStore } from './sink/large-events.js';
import { FactReader } from './sink/fact-reader.js';
import { heartbeatRequestSubject, streamNames } from '../schemas/subjects.js';
import { formatLsn } from '../schemas/versions.js';
import { Metrics } from './observability/metrics.js';
import { Snapshotter } from './snapshot/snapshotter.js';
import { KvSnapshotProgress } from './sink/snapshot-store.js';
import { HeartbeatEmitter } from './source/heartbeat-emitter.js';
import { HeartbeatPublisher } from './events/heartbeat-events.js';
import { aborted as abortedPromise, sleep } from './lifecycle.js';
import { connectorLeaseKey, LeaderLease, leaseLostError, openLeaseStore } from './ha/leader-lease.js';
import { takeOverSlot } from './ha/slot-takeover.js';

/** Errors a restart cannot fix: the daemon stops with the explanation. */
const FATAL_CODES = new Set<string>([
  ErrorCodes.config,
  ErrorCodes.walLevel,
  ErrorCodes.privileges,
  ErrorCodes.pgVersion,
  ErrorCodes.postgresAuth,
  ErrorCodes.postgresTls,
  ErrorCodes.natsAuth,
  ErrorCodes.natsTls,
  ErrorCodes.streamMismatch,
  ErrorCodes.jetstreamDisabled,
  ErrorCodes.slotInvalid,
  ErrorCodes.slotConflict,
  ErrorCodes.noFreeSlots,
]);

/** Messages queued from the socket before it is paused (back-pressure on the walsender). */
export const QUEUE_HIGH = 2_000;
/** Queued messages below which a paused socket is read again. */
export const QUEUE_LOW = 200;

/** Connects to NATS as a daemon: reconnect forever, report status changes. */
export async function connectNats(
  cfg: Config,
  log: Logger,
  name = 'sluice',
  onStatus: (type: string) => void = () => undefined,
): Promise<NatsConnection> {
  try {
    const nc = await connectToNats(cfg, { name, daemon: true });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
          log.warn({ module: 'nats', status: s.type }, `NATS ${s.type}`);
        }
        onStatus(s.type);
      }
    })();
    return nc;
  } catch (cause) {
    throw natsConnectError(cause);
  }
}

export class Connector {
  readonly #cfg: Config;
  readonly #log: Logger;
  /** Column exclusion and masking (the salt stays inside it). */
  readonly #columns: ColumnPolicy;
  readonly metrics: Metrics;
  readonly status: ConnectorStatus = {
    state: 'starting',
    leader: null,
    confirmedLsn: 0n,
    lastError: null,
    lastErrorCode: null,
    sessions: 0,
  };
  #nc: NatsConnection | null = null;
  #jsm: JetStreamManager | null = null;
  #sql: pg.Client | null = null;
  #snapshotter: Snapshotter | null = null;
  #superuser = false;
  /** Payload contracts of domain events (loaded once at start). */
  #contracts: EventContracts | null = null;
  #contractsLoaded = false;
  #failSession: ((e: Error) => void) | null = null;
  #wakeBackoff: (() => void) | null = null;
  readonly #warnedNotOwned = new Set<string>();
  /** The leader lease with `ha: on` (created on first use), else null. */
  #lease: LeaderLease | null = null;

  constructor(
    cfg: Config,
    log: Logger,
    metrics = new Metrics({ prefix: cfg.prefix, retainedWalWarnBytes: cfg.retainedWalWarnBytes }),
  ) {
    this.#cfg = cfg;
    this.#columns = new ColumnPolicy(cfg.columns, cfg.maskSalt);
    this.#log = log.child({ module: 'connector' });
    this.metrics = metrics;
    metrics.watchStatus(this.status);
  }

  /** Runs until the signal aborts; resolves after a clean drain. Throws errors a restart cannot fix. */
  async run(signal: AbortSignal): Promise<void> {
    let backoffMs = 500;
    try {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          if (this.#cfg.ha === 'on') {
            await this.#lead(signal);
            if (signal.aborted) break;
          }
          await this.#setup();
          await this.#session(signal);
        } catch (e) {
          // Every error that ends a session has a code (libraries' errors are classified).
          const err = sessionError(e);
          if (FATAL_CODES.has(err.code)) throw err;
          if (signal.aborted) break;
          this.status.lastError = describeError(err);
          this.status.lastErrorCode = err.code;
          this.status.state = 'backoff';
          this.metrics.sessionFailures++;
          this.#log.warn(
            { code: err.code, err: describeError(err), retryInMs: backoffMs },
            `session ended: ${describeError(err)}`,
          );
          await this.#closeSql();
          // Losing the lease is no fault to back off from: stand by again at once.
          if (Date.now() - started > 60_000 || err.code === ErrorCodes.leaseLost) backoffMs = 500;
          // NATS coming back ends the wait early (see the status callback).
          const wake = new AbortController();
          this.#wakeBackoff = () => wake.abort();
          await sleep(backoffMs, AbortSignal.any([signal, wake.signal]));
          this.#wakeBackoff = null;
          backoffMs = Math.min(backoffMs * 2, 30_000);
        }
      }
    } finally {
      this.status.state = 'stopped';
      await this.#closeSql();
      // After the drain: a standby takes over at once instead of waiting for the lease to expire.
      await this.#lease?.release().catch(() => undefined);
      await this.#nc?.drain().catch(() => undefined);
      this.#nc = null;
    }
  }

  async #closeSql(): Promise<void> {
    await this.#sql?.end().catch(() => undefined);
    this.#sql = null;
  }

  /** Connections, checks, publications, slot, streams; idempotent. */
  async #setup(): Promise<void> {
    const cfg = this.#cfg;
    if (!this.#contractsLoaded) {
      this.#contracts = await loadEventContracts(cfg.outboxContracts);
      this.#contractsLoaded = true;
    }
    if (!this.#sql) {
      this.#sql = await connectSql(cfg.databaseUrl);
      const facts = await serverFacts(this.#sql);
      checkServer(facts);
      const all = await listTables(this.#sql, cfg.tables);
      const sqlNow = this.#sql;
      await checkColumnPolicy(
        this.#columns,
        new Map(all.map((t) => [`${t.schema}.${t.table}`, t.oid] as const)),
        (oid) => tableColumns(sqlNow, oid),
      );
      const plan = planPublications(
        this.#capturable(all, facts.isSuperuser, await publishedTables(this.#sql, cfg.publication)),
      );
      for (const t of plan.insertOnly) {
        this.#log.warn(
          { table: `${t.schema}.${t.table}` },
          `table ${t.schema}.${t.table} has no primary key or replica identity: Sluice streams its inserts as deltas only (no facts), and never makes its updates or deletes fail. Add a primary key to capture it fully.`,
        );
      }
      const pub = await reconcilePublications(
        this.#sql,
        cfg.publication,
        plan,
        notOwned(all, facts.isSuperuser),
      );
      this.#superuser = facts.isSuperuser;
      if (this.#lease) {
        // The lease holder owns the slot: a paused previous leader's walsender is terminated.
        this.#lease.check();
        await takeOverSlot(this.#sql, cfg.slot, this.#log);
      }
      const slot = await ensureSlot(this.#sql, cfg.slot, facts.database);
      if (slot.created) this.#log.info({ slot: cfg.slot }, 'created replication slot');
      this.#jsm = await manager(await this.#connectNats());
      await ensureStreams(this.#jsm, cfg, this.#log);
      const lease = this.#lease;
      this.#snapshotter = new Snapshotter({
        cfg,
        log: this.#log,
        metrics: this.metrics,
        progress: await KvSnapshotProgress.open(this.#nc!, cfg.prefix, cfg.streams.replicas),
        ...(lease ? { fence: () => lease.check() } : {}),
      });
      await this.#snapshotter.init(pub.added, plan.full);
    }
  }

  /** The NATS connection of the process (made once). */
  async #connectNats(): Promise<NatsConnection> {
    // A lost connection ends the session at once: replies to what was sent just before it are
    // lost, and waiting for their timeouts would only delay the resynchronisation.
    this.#nc ??= await connectNats(this.#cfg, this.#log, 'sluice', (type) => {
      if (type === 'disconnect')
        this.#failSession?.(new SluiceError(ErrorCodes.natsUnreachable, 'the connection to NATS was lost.'));
      if (type === 'reconnect') this.#wakeBackoff?.();
    });
    return this.#nc;
  }

  /**
   * With `ha: on`: returns once this process holds the leader lease (at once while it still does),
   * standing by meanwhile; see ha/leader-lease.ts.
   */
  async #lead(signal: AbortSignal): Promise<void> {
    const cfg = this.#cfg;
    if (!this.#lease) {
      const store = await openLeaseStore(
        await this.#connectNats(),
        cfg.prefix,
        cfg.haLeaseSec * 1000,
        cfg.streams.replicas,
      );
      this.#lease = new LeaderLease({
        store,
        key: connectorLeaseKey(cfg.slot),
        ttlMs: cfg.haLeaseSec * 1000,
        log: this.#log,
      });
    }
    const lease = this.#lease;
    if (lease.held) return;
    this.status.state = 'standby';
    const epoch = await lease.acquire(signal, (holder) => {
      this.status.leader = holder;
      this.#log.info({ leader: holder, key: lease.key }, `standing by, leader is ${holder}`);
    });
    if (epoch !== null) this.status.leader = lease.holder;
  }

  async #session(signal: AbortSignal): Promise<void> {
    const cfg = this.#cfg;
    const nc = this.#nc!;
    const jsm = this.#jsm!;
    const sql = this.#sql!;
    const names = streamNames(cfg.prefix);
    const [factsState, deltasState] = await Promise.all([
      streamState(jsm, names.facts),
      streamState(jsm, names.deltas),
    ]);
    const kv = await openSchemaBucket(nc, cfg.prefix, cfg.streams.replicas);
    const large = await LargeEventStore.open(nc, cfg.prefix, cfg.streams.replicas);
    // Pipelined direct gets where they are exact (one replica); leader reads otherwise.
    const reader = cfg.streams.replicas === 1 ? new FactReader(nc, names.facts, JS_API_TIMEOUT_MS) : null;
    this.status.sessions++;

    let failed: ((e: Error) => void) | null = null;
    const failure = new Promise<Error>((resolve) => (failed = resolve));
    let stream: ReplicationStream | null = null;
    // With `ha: on` nothing is published, confirmed or recorded once the lease is gone.
    const lease = this.#lease;
    const onLeaseLost = () => failed!(leaseLostError(lease!.key, 'its term ended'));
    lease?.lost.addEventListener('abort', onLeaseLost, { once: true });
    const sink = new JetStreamSink(nc, {
      streams: [names.facts, names.deltas],
      sharedStreams: { events: names.events, dlq: names.dlq },
      lastSeq: [factsState.lastSeq, deltasState.lastSeq],
      maxInFlight: cfg.publish.maxInFlight,
      maxInFlightBytes: cfg.publish.maxInFlightBytes,
      ackTimeoutMs: cfg.publish.ackTimeoutSec * 1000,
      onCheckpoint: (endLsn) => {
        this.metrics.checkpoint(endLsn);
        if (lease && !lease.held) return;
        if (stream && movesConfirmed(stream.confirmed, endLsn)) {
          stream.confirm(endLsn);
          this.status.confirmedLsn = endLsn;
        }
      },
      onFatal: (e) => failed!(e),
      onPublish: (subject) => this.metrics.countEvent(subject),
      ...(lease ? { fence: () => lease.check(), header: `Sluice-Epoch: ${lease.epoch}` } : {}),
      ...(cfg.faultPoint ? { beforeTrailingFact: faultPoint(cfg.faultPoint) } : {}),
    });
    this.#failSession = (e) => failed!(e);
    const snapshotter = this.#snapshotter!;
    const validator = cfg.validateEvents === 'off' ? null : new EventValidator(cfg.validateEvents, this.#log);
    const registry = new KvSchemaRegistry(kv);
    let heartbeats: HeartbeatPublisher | null = null;
    const processor = new ChangeProcessor({
      prefix: cfg.prefix,
      source: cfg.source!,
      sink: validator ? validator.sink(sink) : sink,
      catalog: pgCatalog(sql),
      registry: validator ? validator.registry(registry) : registry,
      facts: {
        lastFact: async (subject) => {
          const text = reader ? await reader.get(subject) : await lastFact(jsm, names.facts, subject);
          return text === null ? null : large.resolve(text);
        },
        purgeTable: async (filter, markerSubject) => {
          const seq = await lastSeqOf(jsm, names.facts, markerSubject);
          if (seq > 0) await purgeBelow(jsm, names.facts, filter, seq);
        },
      },
      cache: new RowCache(cfg.rowCacheSize, cfg.rowCacheBytes),
      lastFact: factsState.lastPosition,
      lastDelta: deltasState.lastPosition,
      log: this.#log,
      large,
      rows: pgRowSource(sql),
      columns: this.#columns,
      onLogicalMessage: (m) =>
        HeartbeatPublisher.isHeartbeat(m) ? heartbeats!.onMessage(m) : snapshotter.onLogicalMessage(m),
      onChange: (t, key) => snapshotter.onChange(t, key),
      outbox: {
        contracts: this.#contracts,
        reader: {
          lastOnSubject: (s, subject) => subjectHead(jsm, s === 'events' ? names.events : names.dlq, subject),
        },
      },
    });
    heartbeats = new HeartbeatPublisher({
      prefix: cfg.prefix,
      source: cfg.source!,
      slot: cfg.slot,
      target: processor,
      sink,
    });
    this.metrics.attach(processor, sink, heartbeats);
    const emitter = this.#heartbeatEmitter();

    // Messages from the socket are queued and processed in order by one loop.
    const queue: PgoutputMessage[] = [];
    let head = 0;
    let wake: (() => void) | null = null;
    let lastKeepalive = 0n;
    stream = new ReplicationStream(
      {
        url: cfg.databaseUrl,
        slot: cfg.slot,
        publications: publicationNames(cfg.publication),
        startLsn: 0n,
        statusIntervalMs: cfg.statusIntervalSec * 1000,
      },
      {
        onMessage: (msg) => {
          queue.push(msg);
          if (msg.tag === 'commit') this.metrics.commitRead(msg.endLsn, msg.commitTime);
          processor.prefetch(msg);
          if (queue.length - head > QUEUE_HIGH) stream!.pause();
          if (wake) {
            const w = wake;
            wake = null;
            w();
          }
        },
        onKeepalive: (walEnd) => {
          lastKeepalive = walEnd;
          this.#idleConfirm(stream!, processor, sink, queue.length - head, walEnd);
        },
      },
    );
    try {
      await stream.start();
    } catch (e) {
      lease?.lost.removeEventListener('abort', onLeaseLost);
      sink.close();
      throw mapReplicationError(e, cfg);
    }
    this.status.state = 'streaming';
    this.#log.info(
      {
        slot: cfg.slot,
        facts: { lastSeq: factsState.lastSeq },
        deltas: { lastSeq: deltasState.lastSeq },
      },
      'streaming',
    );
    void stream.ended.then((e) => {
      if (e) failed!(e);
    });
    snapshotter.attach(processor, sql);
    emitter?.start();
    // Heartbeats on request (docs/events.md): someone waits for the position to pass a point.
    const heartbeatRequests = emitter
      ? nc.subscribe(heartbeatRequestSubject(cfg.prefix), { callback: () => emitter.requestNow() })
      : null;
    const aborted = abortedPromise(signal);

    // The processing loop: synchronous through whatever is queued, awaiting only when it must.
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
          if (stream!.paused) stream!.resume();
          if (lastKeepalive) this.#idleConfirm(stream!, processor, sink, 0, lastKeepalive);
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const msg = queue[head]!;
        queue[head++] = undefined as never;
        const r = processor.handle(msg);
        if (r) await r;
        if (stream!.paused && queue.length - head < QUEUE_LOW) stream!.resume();
        if (head > 4096 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
      }
    })();
    const loopFailed = loop.then(
      () => null,
      (e: Error) => e,
    );
    const snapshotLoop = snapshotter.run(signal).catch((e: Error) => failed!(e));
    const refresh = setInterval(() => {
      this.#refreshTables(sql).catch((e: Error) => failed!(e));
    }, cfg.tableRefreshSec * 1000);

    const outcome = await Promise.race([
      failure.then((e) => ({ kind: 'failed' as const, e })),
      loopFailed.then((e) => (e ? { kind: 'failed' as const, e } : { kind: 'stopped' as const })),
      aborted.then(() => ({ kind: 'aborted' as const })),
    ]);
    stop = true;
    this.#failSession = null;
    lease?.lost.removeEventListener('abort', onLeaseLost);
    clearInterval(refresh);
    snapshotter.detach();
    if (wake) (wake as () => void)();
    if (outcome.kind === 'aborted') {
      // Drain: stop reading, let in-flight publishes finish, report the final position, exit.
      stream.pause();
      // At most 10 s; the timer is cancelled as soon as the window is drained.
      const drainedOrLate = new AbortController();
      await Promise.race([
        sink
          .drained()
          .catch(() => undefined)
          .finally(() => drainedOrLate.abort()),
        sleep(10_000, drainedOrLate.signal),
      ]);
      stream.flushStatus();
      this.#log.info({ confirmed: formatLsn(stream.confirmed) }, 'drained and stopped');
    }
    heartbeatRequests?.unsubscribe();
    await emitter?.close();
    await stream.close();
    sink.close();
    reader?.close();
    await snapshotLoop;
    if (outcome.kind === 'failed') throw outcome.e;
  }

  /**
   * Only a table's owner (or a superuser) may add it to a publication: other tables are left out,
   * with one warning each, instead of stopping the connector — unless their owner already added
   * them to the publication (`published`), which is how a role that owns no table is set up.
   */
  #capturable(tables: TableRow[], superuser: boolean, published: ReadonlySet<string>): TableRow[] {
    if (superuser) return tables;
    const capturable = (t: TableRow) => t.owned || published.has(`${t.schema}.${t.table}`);
    for (const t of tables) {
      const name = `${t.schema}.${t.table}`;
      if (capturable(t) || this.#warnedNotOwned.has(name)) continue;
      this.#warnedNotOwned.add(name);
      this.#log.warn(
        { table: name },
        `table ${name} is not owned by Sluice's role, so it cannot join the publication and is not captured. Run Sluice as its owner, have its owner add it to publication ${this.#cfg.publication} (docs/security.md), or limit SLUICE_TABLES.`,
      );
    }
    return tables.filter(capturable);
  }

  /**
   * Tables created (or given a primary key) while Sluice runs join the publications here, and
   * are snapshotted: their rows from before they joined would otherwise never become facts.
   */
  async #refreshTables(sql: pg.Client): Promise<void> {
    const all = await listTables(sql, this.#cfg.tables);
    const plan = planPublications(
      this.#capturable(all, this.#superuser, await publishedTables(sql, this.#cfg.publication)),
    );
    const { added } = await reconcilePublications(
      sql,
      this.#cfg.publication,
      plan,
      notOwned(all, this.#superuser),
    );
    if (added.length) {
      this.#log.info(
        { tables: added.map((t) => `${t.schema}.${t.table}`) },
        'tables added to the publication',
      );
      await this.#snapshotter!.requestTables(added);
    }
  }

  /**
   * The heartbeat timer of a session (see source/heartbeat-emitter.ts), or null when turned off.
   * Heartbeat transactions are decoded like any other and published by events/heartbeat-events.ts.
   */
  #heartbeatEmitter(): HeartbeatEmitter | null {
    const cfg = this.#cfg;
    if (cfg.heartbeatIntervalSec <= 0) return null;
    return new HeartbeatEmitter({
      databaseUrl: cfg.databaseUrl,
      slot: cfg.slot,
      intervalMs: cfg.heartbeatIntervalSec * 1000,
      log: this.#log,
      onEmitted: () => this.metrics.heartbeatsWritten++,
    });
  }

  /**
   * With nothing in flight and no transaction open, the walsender's position can be confirmed:
   * otherwise an idle source database pins WAL that other databases on the server write.
   */
  #idleConfirm(
    stream: ReplicationStream,
    processor: ChangeProcessor,
    sink: JetStreamSink,
    queued: number,
    walEnd: bigint,
  ): void {
    if (this.#lease && !this.#lease.held) return;
    const state = {
      queued,
      inTransaction: processor.inTransaction,
      sinkBusy: !sink.idle,
      walEnd,
      confirmed: stream.confirmed,
    };
    if (idleConfirmable(state)) {
      stream.confirm(walEnd);
      this.status.confirmedLsn = walEnd;
    }
  }
}

/**
 * The fault point of fault tests (`fact-after-delta-ack:<n>`): SIGKILL of this process at the n-th
 * trailing fact of a session.
 */
function faultPoint(spec: string): () => void {
  const n = Number(spec.slice(spec.indexOf(':') + 1));
  let seen = 0;
  return () => {
    if (++seen !== n) return;
    // Written synchronously: the logger's buffer would die with the process.
    writeSync(
      2,
      JSON.stringify({ level: 40, faultPoint: spec, msg: 'fault point reached: killing the process' }) + '\n',
    );
    process.kill(process.pid, 'SIGKILL');
  };
}

/** Tables Sluice's role may not alter: left in the publications if their owner put them there. */
function notOwned(tables: TableRow[], superuser: boolean): Set<string> {
  return new Set(superuser ? [] : tables.filter((t) => !t.owned).map((t) => `${t.schema}.${t.table}`));
}

function mapReplicationError(e: unknown, cfg: Config): Error {
  const err = e as { code?: string; message?: string };
  if (err.code === '55006') {
    return new SluiceError(
      ErrorCodes.slotInUse,
      `replication slot ${cfg.slot} is in use by another process.`,
      {
        hint: 'Stop the other Sluice (or consumer) using it, or set SLUICE_SLOT to another name.',
        cause: e,
      },
    );
  }
  if (/invalidated/i.test(String(err.message))) {
    return new SluiceError(
      ErrorCodes.slotInvalid,
      `replication slot ${cfg.slot} was invalidated by PostgreSQL: ${err.message}.`,
      {
        hint: 'The WAL it needed is gone (max_slot_wal_keep_size): run "sluice teardown" and start again; the initial snapshot rebuilds the facts.',
        cause: e,
      },
    );
  }
  if (err.code === '42704') {
    return new SluiceError(ErrorCodes.slotMissing, `replication slot ${cfg.slot} does not exist.`, {
      hint: 'It was dropped while Sluice ran; Sluice recreates it on restart (changes in between are lost: re-snapshot).',
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(String(e));
}
