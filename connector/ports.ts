/**
 * The connector's ports: the role interfaces its stages meet at. Each stage imports the roles it
 * uses or implements from here, never the module on the other side, so dependencies run one way
 * (`source → events → sink`, see DEVELOPERS.md "Layout"), and the composition root
 * (connector.ts, session.ts) is the only place that knows the concrete classes.
 *
 * Types only: this module holds no code, and imports only types — from `schemas/` and from the
 * source's two data formats (`source/pgoutput.ts`, `source/type-catalog.ts`, which import nothing).
 */
import type { PgoutputMessage, RelationMessage } from './source/pgoutput.js';
import type { PgType } from './source/type-catalog.js';
import type { Position } from '../schemas/versions.js';
import type { Resolution, StoredSchemaVersion, TableShape } from '../schemas/registry.js';

// ── Source → events ──────────────────────────────────────────────────────────────────────────

/**
 * The walsender's position while it has nothing else to send (a primary keepalive): an event with
 * a position and no data. It travels the pipeline behind the messages received before it; between
 * transactions the processor hands it to the sink as a transaction without messages, so the
 * checkpoint passes it — and the slot is confirmed there — only once everything before it is
 * acknowledged (pgstream's design). Otherwise an idle source database would pin WAL that other
 * databases on the server write.
 */
export interface KeepaliveMessage {
  readonly tag: 'keepalive';
  /** The server's WAL end: every change before it that the slot publishes was sent before. */
  readonly walEnd: bigint;
}

/** What the source hands the events, in stream order. */
export type SourceMessage = PgoutputMessage | KeepaliveMessage;

// ── Events → sink ────────────────────────────────────────────────────────────────────────────

/** A message ready to publish: the body is the serialized CloudEvent. */
export interface OutMessage {
  readonly subject: string;
  /** Deterministic event id, sent as Nats-Msg-Id. */
  readonly id: string;
  readonly body: string;
}

/** Streams shared with other writers (`<P>_EVENTS`, `<P>_DLQ`), ordered per subject. */
export type SharedStream = 'events' | 'dlq';

/**
 * A source transaction as the sink tracks it (sink/checkpoint.ts): handed out by
 * `ChangeSink.begin`, passed back with every message of the transaction. Opaque to the events.
 */
export interface TxTicket {
  /** The transaction's end LSN once `ChangeSink.commit` was called, else null. */
  readonly endLsn: bigint | null;
}

/** The sink as the events use it (implemented by sink/jetstream-sink.ts). */
export interface ChangeSink {
  /** Resolves when the publish window has room; undefined when it has room now. */
  capacity(): Promise<void> | undefined;
  /** Resolves when everything published so far is acknowledged. */
  drained(): Promise<void>;
  /** Opens the ticket of the next source transaction. */
  begin(): TxTicket;
  /** The source sent the whole transaction; the checkpoint passes it once all is acknowledged. */
  commit(tx: TxTicket, endLsn: bigint): void;
  /** A change: the delta now, the fact once the delta is acknowledged; either may be null. */
  publishChange(
    tx: TxTicket,
    delta: OutMessage | null,
    fact: OutMessage | null,
    onFactAck?: ((seq: number) => void) | null,
  ): void;
  /** A message on the deltas stream (commit markers, schema events, heartbeats). */
  publishDelta(tx: TxTicket, msg: OutMessage): void;
  /** Publishes on `<P>_EVENTS` / `<P>_DLQ`, in order per subject (domain events, see domain-events.ts). */
  publishShared(tx: TxTicket, stream: SharedStream, msg: OutMessage, lastSubjectSeq: number): void;
}

/** Stores a whole event body elsewhere and names it (claim check; sink/large-events.ts). */
export interface LargeEventSink {
  /** Largest message the server accepts, in bytes (max_payload). */
  readonly maxPayload: number;
  /** Name of the store, as put in `dataref.store`. */
  readonly store: string;
  put(name: string, body: string): Promise<void>;
}

/** Reads of the facts stream the events need (wired over sink/streams.ts and sink/fact-reader.ts). */
export interface FactStore {
  /** Stored text of the latest fact on a subject (a large event resolved), or null. */
  lastFact(subject: string): Promise<string | null>;
  /** Removes a table's facts stored below the TRUNCATE marker on `markerSubject`. */
  purgeTable(tableFilter: string, markerSubject: string): Promise<void>;
}

// ── Tables: what the events know of a published table ───────────────────────────────────────

/** Maps one non-NULL value's PostgreSQL text form to a serialized JSON fragment (JSON text; events/type-mapping.ts). */
export type ValueMapper = (text: string) => string;

/** How the column policy masks a column's values (events/column-policy.ts, docs/masking.md). */
export type MaskKind = 'hash' | 'redact' | 'null';

export interface ColumnInfo {
  readonly name: string;
  /** The published type's OID: text (25) for a column masked with hash or redact (column-policy.ts). */
  readonly typeOid: number;
  /** Text of a non-NULL value → JSON fragment; a masked column's mapper masks (column-policy.ts). */
  readonly mapper: ValueMapper;
  /** `"name":` — the column's JSON member prefix, escaped once. */
  readonly member: string;
  /** How the column policy masks the column's values, if it does (column-policy.ts). */
  readonly mask?: MaskKind;
}

/** A published table as the events describe it (events/tables.ts `describeRelation`). */
export interface TableInfo {
  readonly relationId: number;
  readonly schema: string;
  readonly table: string;
  /** "schema.table" */
  readonly name: string;
  /** JSON string of `name`. */
  readonly nameJson: string;
  readonly replicaIdentity: RelationMessage['replicaIdentity'];
  readonly columns: readonly ColumnInfo[];
  /**
   * Index into the Relation message's columns (pgoutput tuples) of each of `columns`, when the
   * column policy excludes some (column-policy.ts); null when they are the same columns.
   */
  readonly sourceIdx: readonly number[] | null;
  /** Indexes of identity columns into `columns`; empty when the table has no usable identity. */
  readonly keyIdx: readonly number[];
  readonly schemaVersion: number;
  /** `<P>.fact.<schema>.<table>.` */
  readonly factPrefix: string;
  /** `<P>.delta.<schema>.<table>.<op>.` per op */
  readonly deltaPrefix: Readonly<Record<'insert' | 'update' | 'delete' | 'truncate', string>>;
  /** CloudEvents `dataschema`. */
  readonly dataschema: string;
  /** JSON Schema of a row of this table. */
  readonly rowSchema: object;
  /** The registry's record of this version. */
  readonly schemaEntry: StoredSchemaVersion;
  /** True when this version takes effect exactly at the position it was described at (a schema event belongs there). */
  readonly schemaChanged: boolean;
  /** When `schemaChanged`: the version in effect right before, if any. */
  readonly schemaPrevious: StoredSchemaVersion | null;
  /** Every recorded version of the table (to read facts stored under older versions). */
  readonly schemaHistory: readonly StoredSchemaVersion[];
}

/** Catalog access describing a table needs (implemented over SQL by source/sql-ports.ts `pgCatalog`). */
export interface Catalog {
  loadTypes(oids: number[]): Promise<Map<number, PgType>>;
  /**
   * Primary-key columns (else replica-identity index columns), NOT NULL columns, and per column its
   * attnum and type (published columns, in attnum order) and whether it has a default, as the
   * catalog says now — which may already be past the Relation message being described.
   */
  describe(relationId: number): Promise<{
    identity: string[];
    notNull: Set<string>;
    attributes?: { name: string; attnum: number; typeOid: number }[];
    defaults?: Set<string>;
  }>;
}

/**
 * Assigns each distinct column layout of a table an increasing integer version (see
 * resolveVersion in schemas/registry.ts); `at` is the position of the event the layout would take
 * effect at, null outside the stream (the snapshotter). Implemented by sink/schema-store.ts.
 */
export interface SchemaRegistry {
  resolve(shape: TableShape, at: Position | null): Promise<Resolution>;
}

/**
 * Reads current values from the source database: the last resort for an unchanged TOAST value of a
 * row Sluice never saw (no cached row, no fact). Returns fragments by column index, or null when
 * the row is gone. Implemented by source/sql-ports.ts `pgRowSource`.
 */
export interface RowSource {
  readColumns(
    t: TableInfo,
    key: readonly string[],
    columns: readonly number[],
  ): Promise<Map<number, string> | null>;
}

// ── Events → snapshot ───────────────────────────────────────────────────────────────────────

/** A logical decoding message (pg_logical_emit_message) with its position, for the snapshotter. */
export interface LogicalMessage {
  prefix: string;
  content: Buffer;
  transactional: boolean;
  /** Commit LSN of the enclosing transaction (transactional) or the message LSN. */
  commitLsn: bigint;
  idx: number;
}

/** What the snapshotter needs of the session's change processor (events/change-processor.ts). */
export interface SnapshotTarget {
  /** The schema registry the processor describes tables with. */
  readonly registry: SchemaRegistry;
  /** Tables seen so far in this session. */
  tables(): IterableIterator<TableInfo>;
  /**
   * Publishes snapshot facts at the current position of the open transaction (the high
   * watermark's); `onLastAck` runs when the last one is acknowledged. Returns how many were
   * published (rows at or below the stored position are skipped).
   */
  emitSnapshotFacts(
    t: TableInfo,
    rows: readonly (readonly string[])[],
    onLastAck?: (() => void) | null,
  ): Promise<number>;
}

/** Durable state of one table's snapshot (kept by sink/snapshot-store.ts). */
export interface SnapshotState {
  table: string;
  status: 'pending' | 'running' | 'done';
  /** PostgreSQL text of the identity columns of the last row done; null before the first chunk. */
  lastKey: string[] | null;
  rowsDone: number;
  rowsTotal: number;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Rows per second over the run so far. */
  rate: number;
}

/** Where snapshot requests and progress are kept (the `<P>_SNAPSHOTS` bucket, sink/snapshot-store.ts). */
export interface SnapshotProgress {
  /** Every table's snapshot state, by table name. */
  list(): Promise<SnapshotState[]>;
  /** Stores one table's state. */
  save(state: SnapshotState): Promise<void>;
  /** Marks tables for (re-)snapshot. */
  request(tables: string[]): Promise<void>;
  /** Whether the first run recorded its initial snapshot requests. */
  initialized(): Promise<boolean>;
  markInitialized(): Promise<void>;
}

// ── Observability: what the metrics read ────────────────────────────────────────────────────

/** Counters of the change processor. */
export interface ProcessorCounters {
  readonly changes: number;
  readonly transactions: number;
  readonly skipped: number;
  readonly fetches: number;
  readonly large: number;
  readonly dbReads: number;
}

/** Counters of the sink, per stream index (facts, deltas, events, dlq). */
export interface SinkCounters {
  readonly published: readonly number[];
  readonly acked: readonly number[];
  readonly bytes: number;
  readonly duplicates: number;
}

/** The change processor as the metrics read it (attached per session). */
export interface CountedProcessor {
  readonly stats: ProcessorCounters;
}

/** The sink as the metrics read it. */
export interface CountedSink {
  readonly stats: SinkCounters;
  /** Messages sent or queued and not yet acknowledged. */
  readonly inFlight: number;
  /** Bytes of those messages. */
  readonly inFlightBytes: number;
}

/** The heartbeat publisher as the metrics read it. */
export interface CountedHeartbeats {
  readonly stats: { readonly published: number };
}

/** What the snapshotter reports to the metrics. */
export interface SnapshotMetrics {
  snapshotRows: number;
  snapshotActive: number;
  snapshotProgress(table: string, done: number, total: number, rate: number): void;
}

/** The connector's state, as health endpoints and metrics show it. */
export interface ConnectorStatus {
  /** `standby`: another replica holds the leader lease (`ha: on`). */
  state: 'starting' | 'standby' | 'streaming' | 'backoff' | 'stopped';
  /** With `ha: on`, the holder of the leader lease as last seen (this process when leading), else null. */
  leader: string | null;
  confirmedLsn: bigint;
  lastError: string | null;
  /** Code of the error that ended the last session (connector/errors.ts), or null. */
  lastErrorCode: string | null;
  sessions: number;
}
