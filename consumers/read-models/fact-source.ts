/**
 * Everything the read models read from NATS, behind one small class: the facts stream in order
 * (an ordered consumer from a stream sequence), commit markers and deltas by sequence in the deltas
 * stream, the schema registry bucket, and stream positions for lag. The only module of the read
 * models that imports nats.js.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { connectToNats, type NatsTarget } from '../../connections/nats-connect.js';
import {
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type ConsumerMessages,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { fetchLargeEvent } from '../large-events.js';
import { encodeKvName } from '../../schemas/keys.js';
import { factTableSubject, streamNames, txSubject, type StreamNames } from '../../schemas/subjects.js';
import { parseLsn, parseVersion } from '../../schemas/versions.js';
import { schemaBucketName } from '../../schemas/registry.js';
import type { FactRecord } from './transaction-assembler.js';
import type { StoredSchemaVersion } from './replica-table.js';

const API_TIMEOUT_MS = 10_000;
/** Facts buffered ahead of the apply loop. */
const READ_AHEAD = 4096;

/** The NATS settings (URL, TLS, credentials), the prefix and a connection name. */
export interface FactSourceOptions extends NatsTarget {
  prefix: string;
  /** Connection name shown by the server. */
  name: string;
}

/** A commit marker of the deltas stream. */
export interface CommitMarker {
  readonly lsn: bigint;
  /** Its sequence in the deltas stream. */
  readonly seq: number;
  /** Number of deltas of the transaction (they directly precede the marker). */
  readonly events: number;
}

/** A delta as the completeness check needs it. */
export interface DeltaStub {
  readonly hasFact: boolean;
  readonly lsn: bigint;
  readonly txSeq: number;
}

export class FactSource {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #prefix: string;
  readonly streams: StreamNames;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, prefix: string) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#prefix = prefix;
    this.streams = streamNames(prefix);
  }

  static async connect(o: FactSourceOptions): Promise<FactSource> {
    // A NatsConnectError (code and hint naming the setting to fix) when it fails.
    const nc = await connectToNats(o, { name: o.name, daemon: true });
    const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
    return new FactSource(nc, jsm, o.prefix);
  }

  /** Every stored layout of `schema.table` from `<P>_SCHEMAS`; null when the table is unknown. */
  async tableSchema(schema: string, table: string): Promise<StoredSchemaVersion[] | null> {
    const bucket = schemaBucketName(this.#prefix);
    let kv;
    try {
      kv = await new Kvm(jetstream(this.#nc, { timeout: API_TIMEOUT_MS })).open(bucket);
    } catch {
      return null;
    }
    const e = await kv.get(`${encodeKvName(schema)}.${encodeKvName(table)}`);
    return e && e.length ? (e.json() as StoredSchemaVersion[]) : null;
  }

  /** Reads facts after stream sequence `afterSeq`, optionally only one table's. */
  async reader(afterSeq: number, table?: { schema: string; table: string }): Promise<FactReader> {
    const js = jetstream(this.#nc, { timeout: API_TIMEOUT_MS });
    const filter = table
      ? factTableSubject(this.#prefix, table.schema, table.table) + '.>'
      : `${this.#prefix}.fact.>`;
    const consumer = await js.consumers.get(this.streams.facts, {
      filter_subjects: filter,
      ...(afterSeq > 0
        ? { deliver_policy: 'by_start_sequence' as const, opt_start_seq: afterSeq + 1 }
        : { deliver_policy: 'all' as const }),
    });
    const messages = await consumer.consume({ max_messages: 512 });
    return new FactReader(messages, this.#nc, afterSeq);
  }

  /** The commit marker of transaction `txId`, if it is in the deltas stream. */
  async commitMarker(txId: number): Promise<CommitMarker | null> {
    const m = await this.#jsm.streams.getMessage(this.streams.deltas, {
      last_by_subj: txSubject(this.#prefix, txId),
    });
    if (!m) return null;
    const d = (m.json() as { data: { lsn: string; events: number } }).data;
    return { lsn: parseLsn(d.lsn), seq: m.seq, events: d.events };
  }

  /** Commit LSN of the oldest message the deltas stream still holds (null when it is empty). */
  async deltasFirstLsn(): Promise<bigint | null> {
    const info = await this.#jsm.streams.info(this.streams.deltas);
    if (info.state.messages === 0) return null;
    const m = await this.#jsm.streams
      .getMessage(this.streams.deltas, { seq: info.state.first_seq })
      .catch(() => null);
    const v = m ? (m.json() as { data?: { version?: string } }).data?.version : undefined;
    return v ? parseVersion(v).commitLsn : null;
  }

  /** The delta at `seq` in the deltas stream (null when gone). */
  async deltaAt(seq: number): Promise<DeltaStub | null> {
    const m = await this.#jsm.streams.getMessage(this.streams.deltas, { seq }).catch(() => null);
    if (!m) return null;
    const d = (m.json() as { data: { key: unknown; op: string; version: string; tx: { seq: number } } }).data;
    return {
      hasFact: d.key !== null || d.op === 'truncate',
      lsn: parseVersion(d.version).commitLsn,
      txSeq: d.tx.seq,
    };
  }

  /**
   * The newest position heartbeat on `<P>.heartbeat` in the deltas stream (docs/events.md): every
   * source transaction that committed before its `lsn` had its facts acknowledged before it was
   * published. Null when there is none (or the deltas stream does not carry the subject yet).
   */
  async latestHeartbeat(): Promise<{ lsn: bigint; seq: number } | null> {
    const m = await this.#jsm.streams
      .getMessage(this.streams.deltas, { last_by_subj: `${this.#prefix}.heartbeat` })
      .catch(() => null);
    if (!m) return null;
    const lsn = (m.json() as { data?: { lsn?: string } }).data?.lsn;
    return typeof lsn === 'string' ? { lsn: parseLsn(lsn), seq: m.seq } : null;
  }

  /** The facts stream's last sequence (0 when empty). */
  async factsLastSeq(): Promise<number> {
    return (await this.#jsm.streams.info(this.streams.facts)).state.last_seq;
  }

  /** The facts stream's last sequence, the commit LSN of its last fact and when it was stored. */
  async factsHead(): Promise<{ seq: number; lsn: bigint; time: Date | null }> {
    const info = await this.#jsm.streams.info(this.streams.facts);
    const seq = info.state.last_seq;
    if (seq === 0 || info.state.messages === 0) return { seq, lsn: 0n, time: null };
    const m = await this.#jsm.streams.getMessage(this.streams.facts, { seq }).catch(() => null);
    const v = m ? (m.json() as { data: { version: string } }).data.version : null;
    return { seq, lsn: v ? parseVersion(v).commitLsn : 0n, time: new Date(info.state.last_ts) };
  }

  async close(): Promise<void> {
    if (!this.#nc.isClosed()) await this.#nc.close();
  }
}

/**
 * Facts in stream order, read ahead into a bounded buffer. `next()` returns what is buffered (up to
 * `max`), waiting up to `waitMs` when nothing is.
 */
export class FactReader {
  readonly #messages: ConsumerMessages;
  readonly #nc: NatsConnection;
  #buffer: FactRecord[] = [];
  #pending = -1;
  #wake: (() => void) | null = null;
  #room: (() => void) | null = null;
  #error: Error | null = null;
  #done = false;
  #lastSeq: number;
  /** When the consumer last delivered a fact (or the reader started). */
  #lastDelivery = Date.now();

  constructor(messages: ConsumerMessages, nc: NatsConnection, afterSeq: number) {
    this.#messages = messages;
    this.#nc = nc;
    this.#lastSeq = afterSeq;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for await (const m of this.#messages) {
        this.#lastDelivery = Date.now();
        let body = m.string();
        if (body.includes('"dataref":')) body = await fetchLargeEvent(this.#nc, body);
        this.#buffer.push(toFact(m.seq, body));
        this.#pending = m.info.pending;
        this.#wake?.();
        if (this.#buffer.length >= READ_AHEAD) await new Promise<void>((r) => (this.#room = r));
      }
    } catch (e) {
      this.#error = e as Error;
    } finally {
      this.#done = true;
      this.#wake?.();
    }
  }

  /** True when every fact stored so far has been handed out. */
  get caughtUp(): boolean {
    return this.#buffer.length === 0 && this.#pending === 0;
  }

  /**
   * Everything stored up to the stream's last sequence was handed out (the caller checked): the
   * server's pending count, which overcounts ranges with interior deletes, is set to 0.
   */
  atStreamEnd(): void {
    if (this.#buffer.length === 0) this.#pending = 0;
  }

  /** Facts not yet delivered to this reader (the server's count; -1 before the first fact). */
  get pending(): number {
    return this.#pending;
  }

  /** Milliseconds since the consumer delivered a fact, when every delivered fact was handed out (else 0). */
  get idleMs(): number {
    return this.#buffer.length ? 0 : Date.now() - this.#lastDelivery;
  }

  /** Sequence of the last fact handed out by `next()` (the start position before any). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  async next(max: number, waitMs: number): Promise<FactRecord[]> {
    if (this.#error) throw this.#error;
    if (this.#buffer.length === 0 && !this.#done) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
      if (this.#error) throw this.#error;
    }
    const out = this.#buffer.splice(0, max);
    if (out.length) this.#lastSeq = out[out.length - 1]!.seq;
    const room = this.#room;
    this.#room = null;
    room?.();
    return out;
  }

  async close(): Promise<void> {
    this.#room?.();
    await this.#messages.close().catch(() => undefined);
  }
}

function toFact(seq: number, body: string): FactRecord {
  const d = (
    JSON.parse(body) as {
      data: {
        table: string;
        key: Record<string, unknown> | null;
        op: string;
        deleted: boolean;
        row: Record<string, unknown> | null;
        version: string;
        schemaVersion: number;
        tx: { id: number; commitTime: string; seq: number } | null;
      };
    }
  ).data;
  const pos = parseVersion(d.version);
  return {
    seq,
    table: d.table,
    key: d.key ?? {},
    op: d.op,
    deleted: d.deleted,
    row: d.row,
    version: d.version,
    schemaVersion: d.schemaVersion,
    lsn: pos.commitLsn,
    txId: d.tx?.id ?? null,
    txSeq: d.tx?.seq ?? pos.commitIdx,
    commitTime: d.tx?.commitTime ?? null,
  };
}
