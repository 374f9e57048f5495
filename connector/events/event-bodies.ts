/**
 * Event bodies: the CloudEvents JSON of facts, deltas and commit markers (docs/events.md), built by
 * string concatenation from the JSON fragments of a row (type-mapping.ts) and the pieces of a
 * table escaped once (tables.ts). Pure functions of their inputs, tested against the zod schemas of
 * the contract (schemas/events.ts) in event-bodies.test.ts.
 */
import type { OutMessage, TableInfo } from '../ports.js';
import { txSubject } from '../../schemas/subjects.js';
import { formatLsn } from '../../schemas/versions.js';

/** A row as JSON fragments in column order; undefined is a value Sluice does not know. */
export type RowFragments = readonly (string | undefined)[];

/** What the events of one source transaction share. */
export interface TxPlace {
  readonly xid: number;
  readonly commitLsn: bigint;
  /** Commit time, ISO 8601. */
  readonly time: string;
  /** `{"id":…,"lsn":"…","commitTime":"…","seq":` — closed per event with its index (see txPrefix). */
  readonly txPrefix: string;
  /** `,"context":{…}` from the transaction's last `sluice.context` message, or ''. */
  readonly context: string;
}

/** The start of every event's `tx` member of a transaction, up to its `seq`. */
export function txPrefix(xid: number, commitLsn: bigint, time: string): string {
  return `{"id":${xid},"lsn":"${formatLsn(commitLsn)}","commitTime":"${time}","seq":`;
}

/** `{"k1":v1,…}` from a row's identity columns. */
export function keyObject(t: TableInfo, row: RowFragments): string {
  let s = '{';
  for (let k = 0; k < t.keyIdx.length; k++) {
    const i = t.keyIdx[k]!;
    if (k) s += ',';
    s += t.columns[i]!.member + row[i];
  }
  return s + '}';
}

/** A row's JSON object (unknown values left out, documented), or `null`. */
export function rowJson(t: TableInfo, row: RowFragments | null): string {
  if (!row) return 'null';
  const cols = t.columns;
  let s = '{';
  let first = true;
  for (let i = 0; i < cols.length; i++) {
    const v = row[i];
    if (v === undefined) continue; // unknown (never seen); documented
    if (!first) s += ',';
    first = false;
    s += cols[i]!.member + v;
  }
  return s + '}';
}

/**
 * A delta's `changes`: for each column that changed, `{"old","new"}`; an insert has only `new`, a
 * delete only `old`; a value not known on either side is left out.
 */
export function changesJson(t: TableInfo, oldRow: RowFragments | null, newRow: RowFragments | null): string {
  const cols = t.columns;
  let s = '{';
  let first = true;
  for (let i = 0; i < cols.length; i++) {
    const o = oldRow ? oldRow[i] : undefined;
    const n = newRow ? newRow[i] : undefined;
    let part: string;
    if (oldRow && newRow) {
      if (o === n || n === undefined) continue;
      part = o === undefined ? `{"new":${n}}` : `{"old":${o},"new":${n}}`;
    } else if (newRow) {
      if (n === undefined) continue;
      part = `{"new":${n}}`;
    } else {
      if (o === undefined) continue;
      part = `{"old":${o}}`;
    }
    if (!first) s += ',';
    first = false;
    s += cols[i]!.member + part;
  }
  return s + '}';
}

/** Builds the events of one source (CloudEvents `source` `sluice/<source>`, ids `<source>:…`). */
export class EventBodies {
  readonly #sourceJson: string;
  readonly #idPrefix: string;

  constructor(source: string) {
    this.#sourceJson = JSON.stringify(`sluice/${source}`);
    this.#idPrefix = `${source}:`;
  }

  /** The deterministic id of an event: `<source>:<version>:<kind>`. */
  id(version: string, kind: 'fact' | 'delta' | 'tx'): string {
    return this.#idPrefix + version + ':' + kind;
  }

  /** Envelope up to `"data":`. */
  head(tx: TxPlace, t: TableInfo, keyToken: string, version: string, kind: 'fact' | 'delta'): string {
    // The key token is [A-Za-z0-9_~@-] only, so it needs no JSON escaping.
    return (
      `{"specversion":"1.0","id":"${this.#idPrefix}${version}:${kind}","source":${this.#sourceJson},` +
      `"type":"io.sluice.${kind}","time":"${tx.time}","subject":${t.nameJson.slice(0, -1)}/${keyToken}",` +
      `"dataschema":"${t.dataschema}","datacontenttype":"application/json","data":`
    );
  }

  /**
   * A delta: `keyObj` is the key's JSON object (`null` for a table without identity or a
   * truncate), `oldRow`/`newRow` the states before and after (null for none).
   */
  delta(
    tx: TxPlace,
    t: TableInfo,
    op: 'insert' | 'update' | 'delete' | 'truncate',
    keyToken: string,
    keyObj: string,
    idx: number,
    version: string,
    oldRow: RowFragments | null,
    newRow: RowFragments | null,
  ): OutMessage {
    return {
      subject: t.deltaPrefix[op] + keyToken,
      id: this.#idPrefix + version + ':delta',
      body:
        this.head(tx, t, keyToken, version, 'delta') +
        `{"table":${t.nameJson},"key":${keyObj},"op":"${op}","changes":${changesJson(t, oldRow, newRow)},"version":"${version}","schemaVersion":${t.schemaVersion},"tx":${tx.txPrefix}${idx}}${tx.context}}}`,
    };
  }

  /**
   * A fact on `subject`: the state `row` after the change (the last known row for a delete, null
   * for a truncate marker). `context` is the transaction's context member, or '' (snapshot facts
   * carry none).
   */
  fact(
    tx: TxPlace,
    t: TableInfo,
    op: 'insert' | 'update' | 'delete' | 'truncate' | 'snapshot',
    subject: string,
    keyToken: string,
    keyObj: string,
    idx: number,
    version: string,
    deleted: boolean,
    row: RowFragments | null,
    context: string,
  ): OutMessage {
    return {
      subject,
      id: this.#idPrefix + version + ':fact',
      body:
        this.head(tx, t, keyToken, version, 'fact') +
        `{"table":${t.nameJson},"key":${keyObj},"op":"${op}","deleted":${deleted},"row":${rowJson(t, row)},"version":"${version}","schemaVersion":${t.schemaVersion},"tx":${tx.txPrefix}${idx}}${context}}}`,
    };
  }

  /**
   * A transaction's commit marker on `<P>.tx.<xid>`: its position, how many events it had in all
   * and per table, and how many domain events (when any).
   */
  txMarker(
    prefix: string,
    tx: TxPlace,
    version: string,
    events: number,
    perTable: ReadonlyMap<string, number>,
    outbox: number,
  ): OutMessage {
    const tables = JSON.stringify(Object.fromEntries(perTable));
    return {
      subject: txSubject(prefix, tx.xid),
      id: this.#idPrefix + version + ':tx',
      body:
        `{"specversion":"1.0","id":"${this.#idPrefix}${version}:tx","source":${this.#sourceJson},"type":"io.sluice.tx",` +
        `"time":"${tx.time}","subject":"tx/${tx.xid}","datacontenttype":"application/json","data":` +
        `{"id":${tx.xid},"lsn":"${formatLsn(tx.commitLsn)}","commitTime":"${tx.time}","version":"${version}","events":${events},"tables":${tables}${outbox ? `,"outbox":${outbox}` : ''}}}`,
    };
  }
}
