/**
 * One session of the connector: one replication connection, one sink, one change processor,
 * wired together and run until it fails or the daemon stops. Anything unexpected (publish
 * rejected, ack timeout, NATS or PostgreSQL connection lost, a protocol surprise) ends the
 * session; the next one (restarts.ts) re-reads where the streams and the slot stand.
 *
 * The slot's confirmed position moves only past transactions whose every message JetStream
 * acknowledged (sink/checkpoint.ts); while the source is idle, the walsender's keepalives carry
 * its position through the pipeline to the same checkpoint.
 */
import { writeSync } from 'node:fs';
import type { SqlClient } from './source/sql-connection.js';
import type { Config } from './config.js';
import type { ConnectorStatus, SourceMessage } from './ports.js';
import { ErrorCodes, SluiceError } from './errors.js';
import type { Logger } from './logger.js';
import { ReplicationStream } from './source/replication-stream.js';
import { pgCatalog, pgRowSource } from './source/sql-ports.js';
import { publicationNames } from './source/publications.js';
import type { ColumnPolicy } from './events/column-policy.js';
import { ChangeProcessor } from './events/change-processor.js';
import type { EventContracts } from '../schemas/outbox.js';
import { RowCache } from './events/row-cache.js';
import { JetStreamSink } from './sink/jetstream-sink.js';
import { movesConfirmed } from './sink/checkpoint.js';
import {
  lastFact,
  lastSeqOf,
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
import type { Metrics } from './observability/metrics.js';
import type { Snapshotter } from './snapshot/snapshotter.js';
import { HeartbeatEmitter } from './source/heartbeat-emitter.js';
import { HeartbeatPublisher } from './events/heartbeat-events.js';
import { aborted as abortedPromise, sleep } from './lifecycle.js';
import { leaseLostError, type LeaderLease } from './ha/leader-lease.js';
import { DecodeQueue } from './decode-queue.js';
import { subscribe, type NatsClient, type StreamManager } from './nats-connection.js';
import type { CapturedTables } from './table-refresh.js';

/** What a session runs on: the process's connections and long-lived parts (connector.ts). */
export interface SessionContext {
  cfg: Config;
  log: Logger;
  metrics: Metrics;
  status: ConnectorStatus;
  nc: NatsClient;
  jsm: StreamManager;
  sql: SqlClient;
  /** The leader lease with `ha: on`: nothing is published, confirmed or recorded once it is gone. */
  lease: LeaderLease | null;
  snapshotter: Snapshotter;
  tables: CapturedTables;
  superuser: boolean;
  contracts: EventContracts | null;
  columns: ColumnPolicy;
  /** Registers how to fail the running session from outside (a lost NATS connection), or none. */
  setFail(fail: ((e: Error) => void) | null): void;
}

/** Runs one session until the signal aborts (drained, resolves) or it fails (throws). */
export async function runSession(ctx: SessionContext, signal: AbortSignal): Promise<void> {
  const { cfg, log, metrics, status, nc, jsm, sql, lease, snapshotter } = ctx;
  const names = streamNames(cfg.prefix);
  const [factsState, deltasState] = await Promise.all([
    streamState(jsm, names.facts),
    streamState(jsm, names.deltas),
  ]);
  const kv = await openSchemaBucket(nc, cfg.prefix, cfg.streams.replicas);
  const large = await LargeEventStore.open(nc, cfg.prefix, cfg.streams.replicas);
  // Pipelined direct gets where they are exact (one replica); leader reads otherwise.
  const reader = cfg.streams.replicas === 1 ? new FactReader(nc, names.facts, JS_API_TIMEOUT_MS) : null;
  status.sessions++;

  let failed: ((e: Error) => void) | null = null;
  const failure = new Promise<Error>((resolve) => (failed = resolve));
  let stream: ReplicationStream | null = null;
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
      metrics.checkpoint(endLsn);
      if (lease && !lease.held) return;
      if (stream && movesConfirmed(stream.confirmed, endLsn)) {
        stream.confirm(endLsn);
        status.confirmedLsn = endLsn;
      }
    },
    onFatal: (e) => failed!(e),
    onPublish: (subject) => metrics.countEvent(subject),
    ...(lease ? { fence: () => lease.check(), header: `Sluice-Epoch: ${lease.epoch}` } : {}),
    ...(cfg.faultPoint ? { beforeTrailingFact: faultPoint(cfg.faultPoint) } : {}),
  });
  ctx.setFail((e) => failed!(e));
  const validator = cfg.validateEvents === 'off' ? null : new EventValidator(cfg.validateEvents, log);
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
    log,
    large,
    rows: pgRowSource(sql),
    columns: ctx.columns,
    onLogicalMessage: (m) =>
      HeartbeatPublisher.isHeartbeat(m) ? heartbeats!.onMessage(m) : snapshotter.onLogicalMessage(m),
    onChange: (t, key) => snapshotter.onChange(t, key),
    outbox: {
      contracts: ctx.contracts,
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
  metrics.attach(processor, sink, heartbeats);
  const emitter = heartbeatEmitter(cfg, log, metrics);

  // Messages from the socket are queued and processed in order by one loop (decode-queue.ts);
  // keepalives too: their position travels the pipeline and is confirmed by the checkpoint once
  // everything before it is acknowledged (ports.ts KeepaliveMessage).
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
        if (msg.tag === 'commit') metrics.commitRead(msg.endLsn, msg.commitTime);
        processor.prefetch(msg);
        queue.push(msg);
      },
      onKeepalive: (walEnd) => queue.push({ tag: 'keepalive', walEnd }),
    },
  );
  const queue = new DecodeQueue<SourceMessage>(stream, (msg) => processor.handle(msg));
  try {
    await stream.start();
  } catch (e) {
    lease?.lost.removeEventListener('abort', onLeaseLost);
    sink.close();
    throw mapReplicationError(e, cfg);
  }
  status.state = 'streaming';
  log.info(
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
    ? subscribe(nc, heartbeatRequestSubject(cfg.prefix), () => emitter.requestNow())
    : null;
  const aborted = abortedPromise(signal);

  const loopFailed = queue.run().then(
    () => null,
    (e: Error) => e,
  );
  const snapshotLoop = snapshotter.run(signal).catch((e: Error) => failed!(e));
  const refresh = setInterval(() => {
    ctx.tables
      .refresh(sql, ctx.superuser, (added) => snapshotter.requestTables(added))
      .catch((e: Error) => failed!(e));
  }, cfg.tableRefreshSec * 1000);

  const outcome = await Promise.race([
    failure.then((e) => ({ kind: 'failed' as const, e })),
    loopFailed.then((e) => (e ? { kind: 'failed' as const, e } : { kind: 'stopped' as const })),
    aborted.then(() => ({ kind: 'aborted' as const })),
  ]);
  ctx.setFail(null);
  lease?.lost.removeEventListener('abort', onLeaseLost);
  clearInterval(refresh);
  snapshotter.detach();
  queue.stop();
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
    log.info({ confirmed: formatLsn(stream.confirmed) }, 'drained and stopped');
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
 * The heartbeat timer of a session (see source/heartbeat-emitter.ts), or null when turned off.
 * Heartbeat transactions are decoded like any other and published by events/heartbeat-events.ts.
 */
function heartbeatEmitter(cfg: Config, log: Logger, metrics: Metrics): HeartbeatEmitter | null {
  if (cfg.heartbeatIntervalSec <= 0) return null;
  return new HeartbeatEmitter({
    databaseUrl: cfg.databaseUrl,
    slot: cfg.slot,
    intervalMs: cfg.heartbeatIntervalSec * 1000,
    log,
    onEmitted: () => metrics.heartbeatsWritten++,
  });
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
