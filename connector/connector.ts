/**
 * The composition root of the connector daemon: makes the process's connections, checks the
 * source, reconciles the publications, slot and streams, and runs sessions (session.ts) in the
 * restart loop (restarts.ts) — with `ha: on` only while it holds the leader lease.
 *
 * A session is one replication connection plus one sink. Anything unexpected ends the session; the
 * next one re-reads where the streams stand and where the slot stands and carries on from there.
 * The slot's confirmed position only moves past transactions whose every message JetStream
 * acknowledged, so nothing is lost across sessions or process crashes.
 */
import type { Config } from './config.js';
import type { ConnectorStatus } from './ports.js';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';
import { checkServer, serverFacts } from './source/server-checks.js';
import { connectSql, type SqlClient } from './source/sql-connection.js';
import { ensureSlot } from './source/slot.js';
import { listTables, tableColumns } from './source/table-list.js';
import { checkColumnPolicy, ColumnPolicy } from './events/column-policy.js';
import { loadEventContracts } from './events/contracts-module.js';
import type { EventContracts } from '../schemas/outbox.js';
import { ensureStreams, manager } from './sink/streams.js';
import { Metrics } from './observability/metrics.js';
import { Snapshotter } from './snapshot/snapshotter.js';
import { KvSnapshotProgress } from './sink/snapshot-store.js';
import { connectorLeaseKey, LeaderLease, openLeaseStore } from './ha/leader-lease.js';
import { takeOverSlot } from './ha/slot-takeover.js';
import { ProcessNats, type StreamManager } from './nats-connection.js';
import { RestartLoop } from './restarts.js';
import { runSession } from './session.js';
import { CapturedTables } from './table-refresh.js';

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
  readonly #restarts = new RestartLoop();
  readonly #nats: ProcessNats;
  readonly #tables: CapturedTables;
  #jsm: StreamManager | null = null;
  #sql: SqlClient | null = null;
  #snapshotter: Snapshotter | null = null;
  #superuser = false;
  /** Payload contracts of domain events (loaded once at start). */
  #contracts: EventContracts | null = null;
  #contractsLoaded = false;
  #failSession: ((e: Error) => void) | null = null;
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
    // A lost connection ends the session at once; its return ends the backoff early.
    this.#nats = new ProcessNats(cfg, this.#log, {
      lost: (e) => this.#failSession?.(e),
      back: () => this.#restarts.wake(),
    });
    this.#tables = new CapturedTables(cfg, this.#log);
  }

  /** Runs until the signal aborts; resolves after a clean drain. Throws errors a restart cannot fix. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.#restarts.run(
        signal,
        async () => {
          if (this.#cfg.ha === 'on') {
            await this.#lead(signal);
            if (signal.aborted) return;
          }
          await this.#setup();
          await this.#session(signal);
        },
        async (err, retryInMs) => {
          this.status.lastError = describeError(err);
          this.status.lastErrorCode = err.code;
          this.status.state = 'backoff';
          this.metrics.sessionFailures++;
          this.#log.warn(
            { code: err.code, err: describeError(err), retryInMs },
            `session ended: ${describeError(err)}`,
          );
          await this.#closeSql();
        },
      );
    } finally {
      this.status.state = 'stopped';
      await this.#closeSql();
      // After the drain: a standby takes over at once instead of waiting for the lease to expire.
      await this.#lease?.release().catch(() => undefined);
      await this.#nats.drain();
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
      const pub = await this.#tables.reconcile(this.#sql, all, facts.isSuperuser);
      this.#superuser = facts.isSuperuser;
      if (this.#lease) {
        // The lease holder owns the slot: a paused previous leader's walsender is terminated.
        this.#lease.check();
        await takeOverSlot(this.#sql, cfg.slot, this.#log);
      }
      const slot = await ensureSlot(this.#sql, cfg.slot, facts.database);
      if (slot.created) this.#log.info({ slot: cfg.slot }, 'created replication slot');
      const nc = await this.#nats.connection();
      this.#jsm = await manager(nc);
      await ensureStreams(this.#jsm, cfg, this.#log);
      const lease = this.#lease;
      this.#snapshotter = new Snapshotter({
        cfg,
        log: this.#log,
        metrics: this.metrics,
        progress: await KvSnapshotProgress.open(nc, cfg.prefix, cfg.streams.replicas),
        ...(lease ? { fence: () => lease.check() } : {}),
      });
      await this.#snapshotter.init(pub.added, pub.plan.full);
    }
  }

  /**
   * With `ha: on`: returns once this process holds the leader lease (at once while it still does),
   * standing by meanwhile; see ha/leader-lease.ts.
   */
  async #lead(signal: AbortSignal): Promise<void> {
    const cfg = this.#cfg;
    if (!this.#lease) {
      const store = await openLeaseStore(
        await this.#nats.connection(),
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

  /** One session on the process's connections (session.ts). */
  async #session(signal: AbortSignal): Promise<void> {
    await runSession(
      {
        cfg: this.#cfg,
        log: this.#log,
        metrics: this.metrics,
        status: this.status,
        nc: await this.#nats.connection(),
        jsm: this.#jsm!,
        sql: this.#sql!,
        lease: this.#lease,
        snapshotter: this.#snapshotter!,
        tables: this.#tables,
        superuser: this.#superuser,
        contracts: this.#contracts,
        columns: this.#columns,
        setFail: (fail) => (this.#failSession = fail),
      },
      signal,
    );
  }
}
