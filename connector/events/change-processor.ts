/**
 * Turns decoded pgoutput messages into fact and delta events, in commit order, and hands them to
 * the sink. One instance per replication session.
 *
 * Hot path: values stay JSON fragments (see type-mapping.ts); bodies are built by string
 * concatenation from pieces escaped once per table; `handle()` returns a promise only when it has
 * to wait (a relation to describe, a previous row to read from the facts stream, a full window).
 *
 * Replay after a restart: the session starts at the slot's confirmed position, which may be behind
 * what the streams already hold. A message whose position is at or below its stream's last stored
 * position is not published again (deltas and facts are compared separately; facts trail deltas,
 * see jetstream-sink.ts). Skipped changes still update the row cache when the row is complete, and
 * drop the entry otherwise, so a later read falls back to the facts stream, which then holds
 * exactly the state before the first change not yet published.
 */
import type { PgoutputMessage, RelationMessage, Tuple } from '../source/pgoutput.js';
import { pgTimestampToIso } from '../source/pgoutput.js';
import { describeRelation, keyTokenOf } from './tables.js';
import { EventBodies, keyObject, txPrefix } from './event-bodies.js';
import { ClaimCheckSink } from './claim-check.js';
import { LogicalMessages } from './logical-messages.js';
import { RowCache, type Row } from './row-cache.js';
import { schemaEventMessage } from './schema-events.js';
import { PreviousRows } from './previous-row.js';
import { truncateTables } from './truncate.js';
import { emitSnapshotFacts } from './snapshot-facts.js';
import { atOrBelow, countChange, type OpenTx } from './transaction.js';
import { encodeKeyFragments, NO_KEY_TOKEN } from '../../schemas/keys.js';
import { COMMIT_MARKER_IDX, formatVersion, type Position } from '../../schemas/versions.js';
import type {
  Catalog,
  ChangeSink,
  FactStore,
  LargeEventSink,
  LogicalMessage,
  OutMessage,
  RowSource,
  SchemaRegistry,
  SnapshotTarget,
  SourceMessage,
  TableInfo,
} from '../ports.js';
import type { Logger } from '../logger.js';
import { DomainEvents, type DomainEventOptions } from './domain-events.js';
import type { ColumnPolicy } from './column-policy.js';

export interface ProcessorOptions {
  prefix: string;
  /** Source name (CloudEvents `source` is `sluice/<source>`). */
  source: string;
  sink: ChangeSink;
  catalog: Catalog;
  registry: SchemaRegistry;
  facts: FactStore;
  cache: RowCache;
  /** Last stored positions of the facts and deltas streams: messages at or below are not republished. */
  lastFact: Position | null;
  lastDelta: Position | null;
  log: Logger;
  /**
   * Logical messages (snapshot watermarks) are handed here. A transactional message is delivered
   * at the commit of its transaction, before the commit marker, so emitted rows join that
   * transaction; the callback may publish through `emitSnapshotFacts`.
   */
  onLogicalMessage?: (msg: LogicalMessage) => void | Promise<void>;
  /**
   * Where events too large for one NATS message go (claim check). Without it, an oversized event
   * fails the session with an explanation.
   */
  large?: LargeEventSink;
  /** Current values from the database for TOAST values Sluice never saw (optional). */
  rows?: RowSource;
  /** Called for every change of a captured table (the snapshotter drops chunk rows it sees here). */
  onChange?: (table: TableInfo, keyToken: string) => void;
  /**
   * Domain events: reads of the shared streams and the payload contracts. Without it, `sluice.outbox`
   * messages are ignored (with a warning); `sluice.context` works either way.
   */
  outbox?: Pick<DomainEventOptions, 'reader' | 'contracts'>;
  /** Column exclusion and masking, applied where tables are described (column-policy.ts). */
  columns?: ColumnPolicy;
}

type Change =
  | { kind: 'insert'; t: TableInfo; newRow: (string | undefined)[] }
  | {
      kind: 'update';
      t: TableInfo;
      newRow: (string | undefined)[];
      oldRow: Row | null;
      oldKey: string[] | null;
    }
  | { kind: 'delete'; t: TableInfo; oldRow: Row | null; keyRow: (string | undefined)[] };

export class ChangeProcessor implements SnapshotTarget {
  readonly #o: ProcessorOptions;
  readonly #tables = new Map<number, TableInfo>();
  readonly #bodies: EventBodies;
  /** The sink, behind the claim check for events larger than one message. */
  readonly #out: ClaimCheckSink;
  #tx: OpenTx | null = null;
  /** End LSN of the last transaction or keepalive handed to the sink (see #keepalive). */
  #lastEnd = 0n;
  readonly #warnedIncomplete = new Set<string>();
  readonly #warnedBadValue = new Set<string>();
  /** The previous-row lookup chain and the replay zone's stored facts (previous-row.ts). */
  readonly #prev: PreviousRows;
  /** Events built, for metrics. */
  readonly stats = { changes: 0, transactions: 0, skipped: 0, fetches: 0, large: 0, dbReads: 0 };
  /** Outbox and context messages (domain-events.ts). */
  readonly domainEvents: DomainEvents;
  /** Logical decoding messages: outbox, context, and the session's handler (logical-messages.ts). */
  readonly #messages: LogicalMessages;

  constructor(opts: ProcessorOptions) {
    this.#o = opts;
    this.#bodies = new EventBodies(opts.source);
    this.#out = new ClaimCheckSink(opts.sink, opts.large, () => this.stats.large++);
    this.#prev = new PreviousRows({
      facts: opts.facts,
      cache: opts.cache,
      lastFact: opts.lastFact,
      onFetch: () => this.stats.fetches++,
    });
    this.domainEvents = new DomainEvents({
      prefix: opts.prefix,
      source: opts.source,
      sink: opts.sink,
      reader: opts.outbox?.reader ?? { lastOnSubject: () => Promise.resolve(null) },
      contracts: opts.outbox?.contracts ?? null,
      log: opts.log,
      ...(opts.large ? { large: opts.large } : {}),
    });
    this.#messages = new LogicalMessages({
      onLogicalMessage: opts.onLogicalMessage,
      domainEvents: this.domainEvents,
      outbox: opts.outbox !== undefined,
      log: opts.log,
    });
  }

  /** The schema registry (the snapshotter describes tables with it). */
  get registry(): SchemaRegistry {
    return this.#o.registry;
  }

  /** True while a source transaction is open (between BEGIN and COMMIT). */
  get inTransaction(): boolean {
    return this.#tx !== null;
  }

  /** The table registered under a relation id, if any. */
  table(relationId: number): TableInfo | undefined {
    return this.#tables.get(relationId);
  }

  /** Tables seen so far in this session. */
  tables(): IterableIterator<TableInfo> {
    return this.#tables.values();
  }

  /**
   * Called for each message as it is queued, before it is processed: starts the reads of previous
   * rows it will need (previous-row.ts).
   */
  prefetch(msg: PgoutputMessage): void {
    this.#prev.prefetch(msg, (relationId) => this.#tables.get(relationId));
  }

  /** Processes one message; returns a promise only when it had to wait. */
  handle(msg: SourceMessage): void | Promise<void> {
    switch (msg.tag) {
      case 'keepalive':
        return this.#keepalive(msg.walEnd);
      case 'begin':
        return this.#begin(msg.xid, msg.finalLsn, msg.commitTime);
      case 'insert':
      case 'update':
      case 'delete':
        return this.#change(msg);
      case 'commit':
        return this.#commit(msg.endLsn);
      case 'relation':
        return this.#relation(msg);
      case 'truncate':
        return this.#truncate(msg.relationIds);
      case 'message':
        return this.#messages.handle(this.#tx, msg.prefix, msg.content, msg.transactional, msg.lsn);
      default:
        return; // type and origin messages carry nothing Sluice needs
    }
  }

  #begin(xid: number, commitLsn: bigint, commitTime: bigint): void {
    const time = pgTimestampToIso(commitTime);
    this.#tx = {
      xid,
      commitLsn,
      time,
      txPrefix: txPrefix(xid, commitLsn, time),
      idx: 0,
      ticket: this.#o.sink.begin(),
      deltas: 0,
      perTable: new Map(),
      messages: [],
      context: '',
      outbox: 0,
    };
  }

  /**
   * A position without data (ports.ts KeepaliveMessage). Between transactions it goes to the sink
   * as a transaction without messages at the walsender's position: the checkpoint passes it once
   * everything before it is acknowledged. Inside a transaction it marks no end and is dropped, and
   * so is a position not past the last one handed over.
   */
  #keepalive(walEnd: bigint): void {
    if (this.#tx || walEnd <= this.#lastEnd) return;
    this.#lastEnd = walEnd;
    const sink = this.#o.sink;
    sink.commit(sink.begin(), walEnd);
  }

  #openTx(): OpenTx {
    if (!this.#tx) throw new Error('pgoutput change outside a transaction');
    return this.#tx;
  }

  async #relation(rel: RelationMessage): Promise<void> {
    // A new shape takes effect at the index the next event of this transaction would get; the
    // registry decides (deterministically, also on replay) whether it does, see schemas/registry.ts.
    const tx = this.#tx;
    const at = tx ? { commitLsn: tx.commitLsn, commitIdx: tx.idx } : null;
    const known = this.#tables.get(rel.relationId);
    const name = `${rel.schema}.${rel.table}`;
    const info = await describeRelation(
      rel,
      this.#o.prefix,
      this.#o.catalog,
      this.#o.registry,
      at,
      (column, text, err) => {
        if (this.#warnedBadValue.has(column)) return;
        this.#warnedBadValue.add(column);
        this.#o.log.warn(
          { column, value: text.slice(0, 200), err: (err as Error).message },
          `a value of ${column} could not be mapped to JSON and is published as PostgreSQL's text; please report the type and value`,
        );
      },
      known && known.name !== name ? known.name : undefined,
      this.#o.columns,
    );
    const before = this.#tables.get(rel.relationId);
    this.#tables.set(rel.relationId, info);
    if (tx && info.schemaChanged) {
      // The schema event takes a position of its own in the deltas stream (deterministic: only a
      // recorded change of shape takes one), before the first change under the new version.
      const idx = tx.idx++;
      if (!atOrBelow(this.#o.lastDelta, { commitLsn: tx.commitLsn, commitIdx: idx })) {
        const place = { xid: tx.xid, commitLsn: tx.commitLsn, idx, time: tx.time };
        this.#o.sink.publishDelta(tx.ticket, schemaEventMessage(this.#o.prefix, this.#o.source, info, place));
      }
    }
    if (info.keyIdx.length === 0) {
      this.#o.log.warn(
        { table: info.name },
        `table ${info.name} has no primary key or replica identity index: Sluice publishes its changes as deltas only, without facts. Add a primary key to get facts.`,
      );
    }
    if (before && before.schemaVersion !== info.schemaVersion) {
      this.#o.log.info({ table: info.name, schemaVersion: info.schemaVersion }, 'table schema changed');
    }
  }

  #tableOf(relationId: number): TableInfo {
    const t = this.#tables.get(relationId);
    if (!t) throw new Error(`pgoutput change for relation ${relationId} before its Relation message`);
    return t;
  }

  #mapTuple(t: TableInfo, tuple: Tuple): (string | undefined)[] {
    const cols = t.columns;
    const n = cols.length;
    const out = new Array<string | undefined>(n);
    const src = t.sourceIdx; // excluded columns are not in `cols` (column-policy.ts)
    for (let i = 0; i < n; i++) {
      const v = tuple[src ? src[i]! : i];
      out[i] = v === null ? 'null' : v === undefined ? undefined : cols[i]!.mapper(v);
    }
    return out;
  }

  #change(msg: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>): void | Promise<void> {
    const t = this.#tableOf(msg.relationId);
    let c: Change;
    if (msg.tag === 'insert') {
      c = { kind: 'insert', t, newRow: this.#mapTuple(t, msg.newTuple) };
    } else if (msg.tag === 'update') {
      const newRow = this.#mapTuple(t, msg.newTuple);
      const oldRow = msg.oldTuple ? (this.#mapTuple(t, msg.oldTuple) as string[]) : null;
      let oldKey: string[] | null = null;
      const keySource = msg.keyTuple ? this.#mapTuple(t, msg.keyTuple) : oldRow;
      if (keySource && t.keyIdx.length) {
        oldKey = t.keyIdx.map((i) => keySource[i]!);
        // An unchanged TOASTed key column arrives as unchanged in the new tuple: take it from the old key.
        for (let k = 0; k < t.keyIdx.length; k++) {
          const i = t.keyIdx[k]!;
          if (newRow[i] === undefined) newRow[i] = oldKey[k];
        }
      }
      c = { kind: 'update', t, newRow, oldRow, oldKey };
    } else {
      const oldRow = msg.oldTuple ? (this.#mapTuple(t, msg.oldTuple) as string[]) : null;
      // A key tuple carries only the key columns; the others are sent as NULL but are unknown.
      let keyRow: (string | undefined)[] | null = oldRow;
      if (!keyRow) {
        const k = this.#mapTuple(t, msg.keyTuple!);
        keyRow = this.#keyOnly(
          t,
          t.keyIdx.map((i) => k[i]!),
        );
      }
      c = { kind: 'delete', t, oldRow, keyRow };
    }
    const wait = this.#o.sink.capacity();
    if (wait) return wait.then(() => this.#changeWithRoom(c));
    return this.#changeWithRoom(c);
  }

  #changeWithRoom(c: Change): void | Promise<void> {
    const t = c.t;
    if (t.keyIdx.length === 0) return this.#keyless(c);
    const tx = this.#openTx();
    const factPos = this.#pos(tx, 0);
    const skipFacts = atOrBelow(this.#o.lastFact, factPos);
    const skipDeltas = atOrBelow(this.#o.lastDelta, factPos);
    if (skipFacts) {
      // Replay zone: whether this change's fact is stored is decided per entity (#publish).
      const subjects = [t.factPrefix + keyTokenOf(t, c.kind === 'delete' ? c.keyRow : c.newRow)];
      if (c.kind === 'update' && c.oldKey) subjects.push(t.factPrefix + encodeKeyFragments(c.oldKey));
      const wait = this.#prev.loadStored(subjects);
      if (wait) return wait.then(() => this.#changeChecked(c, skipFacts, skipDeltas));
    } else {
      this.#prev.leftReplayZone();
    }
    return this.#changeChecked(c, skipFacts, skipDeltas);
  }

  #changeChecked(c: Change, skipFacts: boolean, skipDeltas: boolean): void | Promise<void> {
    const t = c.t;
    // Which subject's previous row is needed, and is it needed at all?
    let subject: string;
    let needPrev: boolean;
    if (c.kind === 'insert') {
      subject = t.factPrefix + keyTokenOf(t, c.newRow);
      needPrev = false;
    } else if (c.kind === 'update') {
      subject = t.factPrefix + (c.oldKey ? encodeKeyFragments(c.oldKey) : keyTokenOf(t, c.newRow));
      needPrev = c.oldRow === null && (c.newRow.includes(undefined) || !skipDeltas);
    } else {
      subject = t.factPrefix + keyTokenOf(t, c.keyRow);
      needPrev = c.oldRow === null && !(skipDeltas && skipFacts);
    }
    let prev: Row | null | undefined;
    if (needPrev) {
      // Not in the cache: read the latest fact. Only when this change's fact is not yet stored,
      // because only then is the stored fact the state right before this change.
      const found = this.#prev.lookup(t, subject, !skipFacts);
      if (found instanceof Promise) return found.then((row) => this.#emit(c, subject, row));
      prev = found;
    }
    return this.#emit(
      c,
      subject,
      prev ?? (c.kind === 'update' || c.kind === 'delete' ? c.oldRow : null) ?? null,
    );
  }

  #pos(tx: OpenTx, ahead: number): Position {
    return { commitLsn: tx.commitLsn, commitIdx: tx.idx + ahead };
  }

  #emit(c: Change, subject: string, prev: Row | null): void | Promise<void> {
    const t = c.t;
    const tx = this.#openTx();
    if (c.kind === 'insert') {
      const row = this.#complete(t, c.newRow, prev);
      return this.#publish(tx, t, 'insert', subject, null, row);
    }
    if (c.kind === 'delete') {
      return this.#publish(tx, t, 'delete', subject, prev ?? c.keyRow, null);
    }
    const newSubject = t.factPrefix + keyTokenOf(t, c.newRow);
    const row = this.#complete(t, c.newRow, prev);
    const factPos = this.#pos(tx, newSubject === subject ? 0 : 1);
    if (row.includes(undefined) && this.#o.rows && !this.#prev.factStored(newSubject, factPos)) {
      return this.#fillFromDatabase(t, row).then((factRow) =>
        this.#emitUpdate(c, subject, newSubject, prev, row, factRow),
      );
    }
    return this.#emitUpdate(c, subject, newSubject, prev, row, null);
  }

  /**
   * An unchanged TOAST value of a row Sluice never saw: read the column's current value. It can be
   * newer than this change (a later change of that column is on its way and corrects it); the
   * row cache keeps it unknown, so no delta ever reports it as an old value.
   */
  async #fillFromDatabase(t: TableInfo, row: (string | undefined)[]): Promise<(string | undefined)[] | null> {
    const missing: number[] = [];
    row.forEach((v, i) => v === undefined && missing.push(i));
    const values = await this.#o.rows!.readColumns(
      t,
      t.keyIdx.map((i) => row[i]!),
      missing,
    );
    if (!values) return null;
    this.stats.dbReads++;
    const filled = [...row];
    for (const [i, v] of values) filled[i] = v;
    return filled;
  }

  #emitUpdate(
    c: Extract<Change, { kind: 'update' }>,
    subject: string,
    newSubject: string,
    prev: Row | null,
    row: (string | undefined)[],
    factRow: (string | undefined)[] | null,
  ): void | Promise<void> {
    const t = c.t;
    const tx = this.#openTx();
    if (newSubject !== subject) {
      // A key change is a delete of the old entity and an insert of the new one.
      const r = this.#publish(
        tx,
        t,
        'delete',
        subject,
        prev ?? c.oldRow ?? this.#keyOnly(t, c.oldKey!),
        null,
      );
      if (r) return r.then(() => this.#publish(tx, t, 'insert', newSubject, null, row, factRow));
      return this.#publish(tx, t, 'insert', newSubject, null, row, factRow);
    }
    return this.#publish(tx, t, 'update', subject, prev ?? c.oldRow, row, factRow);
  }

  #keyOnly(t: TableInfo, key: readonly string[]): (string | undefined)[] {
    const row = new Array<string | undefined>(t.columns.length).fill(undefined);
    t.keyIdx.forEach((i, k) => (row[i] = key[k]));
    return row;
  }

  /** Fills unchanged TOAST values from the previous row. */
  #complete(t: TableInfo, row: (string | undefined)[], prev: Row | null): (string | undefined)[] {
    if (!row.includes(undefined)) return row;
    for (let i = 0; i < row.length; i++) {
      if (row[i] === undefined && prev && prev[i] !== undefined) row[i] = prev[i];
    }
    if (row.includes(undefined) && !this.#o.rows && !this.#warnedIncomplete.has(t.name)) {
      this.#warnedIncomplete.add(t.name);
      this.#o.log.warn(
        { table: t.name },
        `an update of ${t.name} left a TOASTed column unchanged and Sluice never saw the row before: that column is missing from the fact. Run "sluice snapshot ${t.name}" (or use REPLICA IDENTITY FULL) to capture full rows.`,
      );
    }
    return row;
  }

  /**
   * Publishes one change: a delta (op, old → new) and a fact (the state after). `oldRow` is the
   * state before (null for an insert), `newRow` the state after (null for a delete).
   */
  #publish(
    tx: OpenTx,
    t: TableInfo,
    op: 'insert' | 'update' | 'delete',
    subject: string,
    oldRow: readonly (string | undefined)[] | null,
    newRow: (string | undefined)[] | null,
    /** The fact's row when it differs from newRow (values read from the database). */
    factRow: (string | undefined)[] | null = null,
  ): void | Promise<void> {
    const idx = tx.idx++;
    const pos = { commitLsn: tx.commitLsn, commitIdx: idx };
    const skipDelta = atOrBelow(this.#o.lastDelta, pos);
    const skipFact = this.#prev.factStored(subject, pos);
    const keyToken = subject.slice(t.factPrefix.length);
    this.stats.changes++;
    countChange(tx, t);
    // Cache: the state after this change, when complete; otherwise forget it (read back later).
    // A read started ahead for this entity is stale now.
    this.#prev.changed(subject);
    if (newRow === null) this.#o.cache.delete(subject);
    else if (!newRow.includes(undefined))
      this.#o.cache.set(subject, { columns: t.columns, values: newRow as string[] });
    else if (skipDelta && skipFact)
      this.#o.cache.delete(subject); // stored: read back when needed
    else this.#o.cache.set(subject, { columns: t.columns, values: newRow as string[] }); // unknowns stay unknown
    this.#o.onChange?.(t, keyToken);
    if (skipDelta && skipFact) {
      this.stats.skipped++;
      return;
    }
    const version = formatVersion(tx.commitLsn, idx);
    const keyObj = keyObject(t, (newRow ?? oldRow)!);
    const b = this.#bodies;
    const delta = skipDelta ? null : b.delta(tx, t, op, keyToken, keyObj, idx, version, oldRow, newRow);
    const deleted = newRow === null;
    const fact = skipFact
      ? null
      : b.fact(
          tx,
          t,
          op,
          subject,
          keyToken,
          keyObj,
          idx,
          version,
          deleted,
          deleted ? oldRow : (factRow ?? newRow),
          tx.context,
        );
    return this.#send(tx, delta, fact);
  }

  /** Hands a change to the sink through the claim check (claim-check.ts). */
  #send(
    tx: OpenTx,
    delta: OutMessage | null,
    fact: OutMessage | null,
    onFactAck: ((seq: number) => void) | null = null,
  ): void | Promise<void> {
    return this.#out.publishChange(tx.ticket, delta, fact, onFactAck);
  }

  /** Rows of a table without identity: a delta per insert, no fact (there is no entity to key it). */
  #keyless(c: Change): void | Promise<void> {
    const tx = this.#openTx();
    const t = c.t;
    const idx = tx.idx++;
    const pos = { commitLsn: tx.commitLsn, commitIdx: idx };
    this.stats.changes++;
    countChange(tx, t);
    if (atOrBelow(this.#o.lastDelta, pos)) {
      this.stats.skipped++;
      return;
    }
    const version = formatVersion(tx.commitLsn, idx);
    const oldRow = c.kind === 'insert' ? null : c.kind === 'update' ? c.oldRow : (c.oldRow ?? c.keyRow);
    const newRow = c.kind === 'delete' ? null : c.newRow;
    const delta = this.#bodies.delta(tx, t, c.kind, NO_KEY_TOKEN, 'null', idx, version, oldRow, newRow);
    return this.#send(tx, delta, null);
  }

  /** TRUNCATE: a barrier publishing a delta, a fact marker and a purge per table (truncate.ts). */
  async #truncate(relationIds: number[]): Promise<void> {
    const o = this.#o;
    return truncateTables(
      {
        sink: o.sink,
        facts: o.facts,
        cache: o.cache,
        bodies: this.#bodies,
        lastDelta: o.lastDelta,
        lastFact: o.lastFact,
        stats: this.stats,
        onChange: o.onChange,
      },
      this.#openTx(),
      relationIds,
      (id) => this.#tableOf(id),
    );
  }

  #commit(endLsn: bigint): void | Promise<void> {
    const tx = this.#openTx();
    const delivered = this.#messages.deliver(tx);
    if (delivered) return delivered.then(() => this.#finish(tx, endLsn));
    return this.#finish(tx, endLsn);
  }

  #finish(tx: OpenTx, endLsn: bigint): void {
    this.#tx = null;
    this.stats.transactions++;
    if (tx.deltas > 0 || tx.outbox > 0) {
      const version = formatVersion(tx.commitLsn, COMMIT_MARKER_IDX);
      if (!atOrBelow(this.#o.lastDelta, { commitLsn: tx.commitLsn, commitIdx: COMMIT_MARKER_IDX })) {
        this.#o.sink.publishDelta(
          tx.ticket,
          this.#bodies.txMarker(this.#o.prefix, tx, version, tx.deltas, tx.perTable, tx.outbox),
        );
      }
    }
    if (endLsn > this.#lastEnd) this.#lastEnd = endLsn;
    this.#o.sink.commit(tx.ticket, endLsn);
  }

  /**
   * Publishes snapshot facts at the current position of the open transaction (the high watermark's
   * transaction), each taking the next index (snapshot-facts.ts). Rows are fragments in column
   * order. Returns how many were published (rows at or below the stored position are skipped).
   */
  async emitSnapshotFacts(
    t: TableInfo,
    rows: readonly (readonly string[])[],
    onLastAck: (() => void) | null = null,
  ): Promise<number> {
    const tx = this.#openTx();
    const send = (tx: OpenTx, fact: OutMessage, onAck: ((seq: number) => void) | null) =>
      this.#send(tx, null, fact, onAck);
    return emitSnapshotFacts(
      { cache: this.#o.cache, bodies: this.#bodies, lastFact: this.#o.lastFact, send },
      tx,
      t,
      rows,
      onLastAck,
    );
  }

  /**
   * Publishes a position heartbeat (see heartbeat-events.ts) in the open transaction, at its commit
   * position with the commit marker's index, so it sorts after everything the transaction holds.
   * Skipped when the transaction has deltas (its commit marker carries the position) or when the
   * position is already stored (a replay). Returns whether it was published.
   */
  publishHeartbeat(build: (commitLsn: bigint, commitTime: string, version: string) => OutMessage): boolean {
    const tx = this.#openTx();
    const pos = { commitLsn: tx.commitLsn, commitIdx: COMMIT_MARKER_IDX };
    if (tx.deltas > 0 || atOrBelow(this.#o.lastDelta, pos)) return false;
    const version = formatVersion(tx.commitLsn, COMMIT_MARKER_IDX);
    this.#o.sink.publishDelta(tx.ticket, build(tx.commitLsn, tx.time, version));
    return true;
  }
}
