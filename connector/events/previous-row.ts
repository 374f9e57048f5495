/**
 * The previous row of an entity: where the old values of a delta, and the unchanged TOAST values of
 * a fact, come from when pgoutput does not send them (an UPDATE or DELETE without old values).
 *
 * The lookup chain: the row cache (row-cache.ts), then the entity's latest stored fact, read from
 * the facts stream — started ahead of processing when the message is queued (`prefetch`), so the
 * reads of a batch overlap instead of taking one round trip each. A stored fact is the state right
 * before a change only while that change's fact is not stored yet: the caller says whether it may
 * read.
 *
 * Replay zone (positions at or below the facts stream's last stored position): facts trail deltas
 * and a crash can leave any change's fact unpublished, so whether a change's fact is stored is
 * decided per entity, by the version of its latest stored fact (`loadStored`, `factStored`).
 */
import type { PgoutputMessage } from '../source/pgoutput.js';
import type { CachedRow, Row, RowCache } from './row-cache.js';
import { objectFragments, fragmentAt } from '../json-fragments.js';
import { encodeKeyFragments } from '../../schemas/keys.js';
import { formatVersion, type Position } from '../../schemas/versions.js';
import type { FactStore, TableInfo } from '../ports.js';
import { atOrBelow } from './transaction.js';

/** Most reads of the facts stream started ahead of processing at a time. */
export const PREFETCH_LIMIT = 512;

export interface PreviousRowOptions {
  facts: FactStore;
  cache: RowCache;
  /** The facts stream's last stored position: the end of the replay zone. */
  lastFact: Position | null;
  /** Counts each read of the facts stream (the processor's `stats.fetches`). */
  onFetch: () => void;
}

export class PreviousRows {
  readonly #o: PreviousRowOptions;
  /** Reads of the facts stream started ahead of processing, by subject (see prefetch()). */
  readonly #prefetched = new Map<string, Promise<string | null>>();
  /** Answers of prefetched reads that arrived, for synchronous use. */
  readonly #prefetchedText = new Map<string, string | null>();
  /** Commit LSN of the transaction the messages being queued belong to (for prefetch). */
  #queuedTxLsn = 0n;
  /**
   * Replay zone: the version of the latest stored fact of each entity touched so far, read once
   * (see loadStored). Emptied when the replay passes the last stored fact.
   */
  readonly #storedVersion = new Map<string, string | null>();

  constructor(opts: PreviousRowOptions) {
    this.#o = opts;
  }

  /**
   * Called for each message as it is queued, before it is processed: an UPDATE or DELETE without
   * old values whose entity is not in the cache will need its latest fact; the read starts now,
   * concurrently with others, instead of one round trip at a time when the message is reached.
   * (After a restart, or on a large table, most updates touch entities not in the cache.)
   * `table` is the table the message's relation is registered as, if any.
   */
  prefetch(msg: PgoutputMessage, table: (relationId: number) => TableInfo | undefined): void {
    if (msg.tag === 'begin') {
      this.#queuedTxLsn = msg.finalLsn;
      return;
    }
    if (msg.tag !== 'insert' && msg.tag !== 'update' && msg.tag !== 'delete') return;
    if (this.#prefetched.size >= PREFETCH_LIMIT) return;
    // Past the replay zone only updates and deletes without old values need the previous fact;
    // inside it every change needs its entity's stored fact (see loadStored).
    const last = this.#o.lastFact;
    const inZone = last !== null && this.#queuedTxLsn <= last.commitLsn;
    if (!inZone && (msg.tag === 'insert' || msg.oldTuple)) return;
    const t = table(msg.relationId);
    if (!t || t.keyIdx.length === 0) return;
    const tuple =
      msg.tag === 'insert'
        ? msg.newTuple
        : msg.tag === 'update'
          ? (msg.keyTuple ?? msg.oldTuple ?? msg.newTuple)
          : (msg.keyTuple ?? msg.oldTuple);
    if (!tuple) return;
    const key: string[] = [];
    for (const i of t.keyIdx) {
      const v = tuple[t.sourceIdx ? t.sourceIdx[i]! : i];
      if (v === undefined || v === null) return;
      key.push(t.columns[i]!.mapper(v));
    }
    const subject = t.factPrefix + encodeKeyFragments(key);
    if (this.#prefetched.has(subject) || this.#storedVersion.has(subject)) return;
    if (!inZone && this.#o.cache.has(subject)) return;
    this.#o.onFetch();
    const read = this.#o.facts.lastFact(subject);
    read.then(
      (text) => {
        if (this.#prefetched.get(subject) === read) this.#prefetchedText.set(subject, text);
      },
      () => undefined, // a failure surfaces when the change is processed
    );
    this.#prefetched.set(subject, read);
  }

  /** A change of the entity is being published: a read started ahead for it is stale now. */
  changed(subject: string): void {
    if (this.#prefetched.size) {
      this.#prefetched.delete(subject);
      this.#prefetchedText.delete(subject);
    }
  }

  /**
   * The previous row of an entity: from the cache, else — when `readFacts` (this change's fact is
   * not stored yet) — from its latest stored fact (null when deleted or absent), else undefined
   * (unknown). A promise only when a read has to be awaited; a read started ahead of time is used
   * when nothing touched the entity since.
   */
  lookup(t: TableInfo, subject: string, readFacts: boolean): Row | null | undefined | Promise<Row | null> {
    const e = this.#o.cache.get(subject);
    if (e !== undefined) return cachedRow(t, e);
    if (!readFacts) return undefined;
    const ready = this.#prefetchedText.get(subject);
    if (ready !== undefined) {
      // Already answered: go on synchronously (an await per change costs a flush per change).
      this.#prefetched.delete(subject);
      this.#prefetchedText.delete(subject);
      return rowFromFact(t, ready);
    }
    return this.#read(subject).then((text) => rowFromFact(t, text));
  }

  /**
   * Replay zone: loads the version of the latest stored fact of each subject not known yet; a
   * promise only when a read is needed. Facts trail deltas and a crash can leave any change's fact
   * unpublished, so "at or below the last stored fact" does not mean "stored". A fact whose entity
   * holds this version or a newer one is stored; any other is published again. Reads cover only
   * the replay zone, which the slot's confirmed position (moved only past transactions whose
   * deltas *and* facts were acknowledged) bounds to the changes that were in flight.
   */
  loadStored(subjects: readonly string[]): Promise<void> | undefined {
    const reads: Promise<void>[] = [];
    for (const subject of subjects) {
      if (this.#storedVersion.has(subject)) continue;
      const ready = this.#prefetchedText.get(subject);
      if (ready !== undefined) {
        this.#prefetched.delete(subject);
        this.#prefetchedText.delete(subject);
        this.#storedVersion.set(subject, versionOfFact(ready));
        continue;
      }
      reads.push(
        this.#read(subject).then((text) => void this.#storedVersion.set(subject, versionOfFact(text))),
      );
    }
    return reads.length ? Promise.all(reads).then(() => undefined) : undefined;
  }

  /** The replay passed the last stored fact: the stored versions are no longer needed. */
  leftReplayZone(): void {
    if (this.#storedVersion.size) this.#storedVersion.clear();
  }

  /** Whether the fact of a change at `pos` on `subject` is already stored. */
  factStored(subject: string, pos: Position): boolean {
    if (!atOrBelow(this.#o.lastFact, pos)) return false;
    const stored = this.#storedVersion.get(subject);
    if (stored === undefined) throw new Error(`replay zone: stored fact of ${subject} not loaded`);
    return storedCovers(stored, pos);
  }

  /** The read started ahead for a subject (taken), or a new one. */
  #read(subject: string): Promise<string | null> {
    let read = this.#prefetched.get(subject);
    this.#prefetched.delete(subject);
    if (!read) {
      this.#o.onFetch();
      read = this.#o.facts.lastFact(subject);
    }
    return read;
  }
}

/** Whether an entity whose latest stored fact has version `stored` holds the change at `pos`. */
export function storedCovers(stored: string | null, pos: Position): boolean {
  return stored !== null && stored >= formatVersion(pos.commitLsn, pos.commitIdx);
}

/**
 * A cached row in the table's current column order. A row cached under another layout (DDL
 * since) is re-read by column name; a column it lacks, or whose type changed (its value's JSON
 * form is the old type's), is unknown (undefined).
 */
export function cachedRow(t: TableInfo, e: CachedRow): Row {
  if (e.columns === t.columns) return e.values;
  const byName = new Map(e.columns.map((c, i) => [c.name, i] as const));
  return t.columns.map((c) => {
    const i = byName.get(c.name);
    return i !== undefined && e.columns[i]!.typeOid === c.typeOid ? e.values[i] : undefined;
  }) as string[];
}

/** Recovers a row (fragments in column order) from a stored fact; null when deleted or absent. */
export function rowFromFact(t: TableInfo, text: string | null): Row | null {
  if (text === null) return null;
  const data = fragmentAt(text, ['data']);
  if (!data) return null;
  const members = objectFragments(data);
  if (members.get('deleted') === 'true') return null;
  const rowText = members.get('row');
  if (!rowText || rowText === 'null') return null;
  const row = objectFragments(rowText);
  // A column added since that fact has no stored value: unknown, not null. So is one retyped
  // since (its stored value has the old type's JSON form).
  const v = Number(members.get('schemaVersion'));
  const then = v === t.schemaVersion ? undefined : t.schemaHistory.find((h) => h.version === v)?.columns;
  return t.columns.map((c) => {
    const o = then?.find((x) => x.name === c.name);
    // Nor is one masked differently then (a clear value must not become an old value now).
    if (then && (o?.typeOid !== c.typeOid || o?.mask !== c.mask)) return undefined;
    return row.get(c.name);
  }) as string[];
}

/** The `data.version` of a stored fact's text, or null when there is none. */
export function versionOfFact(text: string | null): string | null {
  if (text === null) return null;
  const v = fragmentAt(text, ['data', 'version']);
  return v ? (JSON.parse(v) as string) : null;
}
