/**
 * The consumer runtime's only door to NATS: nats.js v3 (transport, JetStream) wrapped behind a
 * small interface of plain data, so the rest of consumers/runtime is tested without a server.
 */
import { headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  ReplayPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient as NatsJetStream,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { kvEntries } from '../../connections/kv-entries.js';
import {
  connectToNats,
  NatsConnectError,
  NatsConnectFailures,
  type NatsTarget,
} from '../../connections/nats-connect.js';
import { fetchLargeEvent } from '../large-events.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';

/** Milliseconds a JetStream API request may take (set explicitly; nats.js's default is 5 s in code). */
export const JS_API_TIMEOUT_MS = 5_000;

export type { ConsumerInfo, StreamInfo, NatsConnection };

/**
 * Connects to NATS as a daemon does (reconnects forever), with the NATS settings (TLS,
 * credentials) of `settings`; a failure is a ConsumerError naming the setting to fix.
 */
export async function connectNats(settings: NatsTarget, name: string): Promise<NatsConnection> {
  try {
    return await connectToNats(settings, { name, daemon: true });
  } catch (cause) {
    if (cause instanceof NatsConnectError) {
      throw new ConsumerError(
        cause.code === NatsConnectFailures.config ? ConsumerErrorCodes.config : ConsumerErrorCodes.nats,
        cause.message,
        { hint: cause.hint, cause },
      );
    }
    throw cause;
  }
}

/** One delivery of a message to a durable consumer. */
export interface Delivery {
  readonly subject: string;
  readonly stream: string;
  /** Stream sequence. */
  readonly seq: number;
  /** Deliveries so far, this one included (server count). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  readonly time: Date;
  readonly headers: Record<string, string>;
  readonly data: Uint8Array;
  /** Messages of the consumer not yet delivered, as of this delivery. */
  readonly pending: number;
  ack(): void;
  /** Negative ack: redeliver after `delayMs`. */
  nak(delayMs?: number): void;
  /** Resets the server's ack timer. */
  working(): void;
  /** Never redeliver. */
  term(reason?: string): void;
}

/** A stored message read back by sequence or subject. */
export interface StoredMessage {
  readonly subject: string;
  readonly seq: number;
  readonly time: Date;
  readonly headers: Record<string, string>;
  readonly data: Uint8Array;
}

/** Settings of a durable pull consumer the runtime manages. */
export interface DurableSettings {
  name: string;
  description: string;
  ackWaitMs: number;
  maxAckPending: number;
  filter: { filter_subject?: string; filter_subjects?: string[] };
  /** Where a new consumer starts. */
  start: { kind: 'all' } | { kind: 'new' } | { kind: 'sequence'; seq: number } | { kind: 'time'; time: Date };
}

const DEC = new TextDecoder();

export class JetStreamClient {
  readonly nc: NatsConnection;
  readonly #js: NatsJetStream;
  readonly #jsm: JetStreamManager;

  private constructor(nc: NatsConnection, js: NatsJetStream, jsm: JetStreamManager) {
    this.nc = nc;
    this.#js = js;
    this.#jsm = jsm;
  }

  static async create(nc: NatsConnection): Promise<JetStreamClient> {
    try {
      const jsm = await jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS });
      return new JetStreamClient(nc, jetstream(nc, { timeout: JS_API_TIMEOUT_MS }), jsm);
    } catch (cause) {
      throw new ConsumerError(
        ConsumerErrorCodes.nats,
        `JetStream does not answer: ${(cause as Error).message}.`,
        {
          hint: 'Start nats-server with -js (or a jetstream {} block in its config).',
          cause,
        },
      );
    }
  }

  /** Publishes an empty core NATS message (no stream, no acknowledgement); dropped while disconnected. */
  signal(subject: string): void {
    try {
      this.nc.publish(subject);
    } catch {
      // closed or draining: a signal is best effort
    }
  }

  /** The connected server's version (e.g. `2.9.10`). */
  get serverVersion(): string {
    return this.nc.info?.version ?? '0.0.0';
  }

  async streamInfo(stream: string): Promise<StreamInfo | null> {
    try {
      return await this.#jsm.streams.info(stream);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound)) return null;
      throw e;
    }
  }

  /** Messages stored on one subject of a stream (0 when the stream does not exist). */
  async subjectCount(stream: string, subject: string): Promise<number> {
    try {
      const info = await this.#jsm.streams.info(stream, { subjects_filter: subject });
      return info.state.subjects?.[subject] ?? 0;
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound)) return 0;
      throw e;
    }
  }

  /** Creates a limits stream when it is missing; an existing one is left as it is. */
  async ensureStream(name: string, subjects: string[], description: string): Promise<void> {
    if (await this.streamInfo(name)) return;
    try {
      await this.#jsm.streams.add({ name, subjects, description, allow_direct: true });
    } catch (e) {
      // Another process created it at the same moment.
      if (!(await this.streamInfo(name))) throw e;
    }
  }

  async durableInfo(stream: string, name: string): Promise<ConsumerInfo | null> {
    try {
      return await this.#jsm.consumers.info(stream, name);
    } catch (e) {
      if (
        isApiError(e, JetStreamApiCodes.ConsumerNotFound) ||
        isApiError(e, JetStreamApiCodes.StreamNotFound)
      )
        return null;
      throw e;
    }
  }

  async listDurables(stream: string): Promise<ConsumerInfo[]> {
    if (!(await this.streamInfo(stream))) return [];
    return this.#jsm.consumers.list(stream).next();
  }

  /**
   * Creates the durable consumer, or brings an existing one's settings up to date (ack wait, max
   * ack pending, filter). Its position is never changed here: that is `sluice consumers reset`.
   */
  async ensureDurable(stream: string, s: DurableSettings): Promise<ConsumerInfo> {
    const existing = await this.durableInfo(stream, s.name);
    if (!existing) return this.addDurable(stream, s);
    const c = existing.config;
    const sameFilter =
      (c.filter_subject ?? '') === (s.filter.filter_subject ?? '') &&
      JSON.stringify(c.filter_subjects ?? []) === JSON.stringify(s.filter.filter_subjects ?? []);
    if (c.ack_wait === nanos(s.ackWaitMs) && c.max_ack_pending === s.maxAckPending && sameFilter)
      return existing;
    try {
      return await this.#jsm.consumers.update(stream, s.name, {
        ack_wait: nanos(s.ackWaitMs),
        max_ack_pending: s.maxAckPending,
        ...(sameFilter
          ? {}
          : s.filter.filter_subjects
            ? { filter_subjects: s.filter.filter_subjects }
            : { filter_subject: s.filter.filter_subject ?? '' }),
      });
    } catch (cause) {
      throw new ConsumerError(
        ConsumerErrorCodes.config,
        `durable consumer ${s.name} on ${stream} cannot take the new settings: ${(cause as Error).message}.`,
        {
          hint: `Changing tables or ops of an existing consumer needs nats-server ≥ 2.10; otherwise give the consumer a new name (it starts over; remove the old one with "nats consumer rm ${stream} ${s.name}").`,
          cause,
        },
      );
    }
  }

  /** Creates a durable pull consumer with explicit acks and unlimited deliveries (the runtime counts them). */
  async addDurable(stream: string, s: DurableSettings): Promise<ConsumerInfo> {
    const cfg: Partial<ConsumerConfig> = {
      durable_name: s.name,
      description: s.description,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(s.ackWaitMs),
      // Dead letters are the runtime's job (after maxDeliver it publishes to <P>_DLQ first, then
      // terminates the message): a server-side limit would drop a message silently if the process
      // died between the last failure and the dead letter.
      max_deliver: -1,
      max_ack_pending: s.maxAckPending,
      replay_policy: ReplayPolicy.Instant,
      ...s.filter,
      ...startPolicy(s.start),
    };
    return this.#jsm.consumers.add(stream, cfg);
  }

  async deleteDurable(stream: string, name: string): Promise<boolean> {
    try {
      return await this.#jsm.consumers.delete(stream, name);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.ConsumerNotFound)) return false;
      throw e;
    }
  }

  /**
   * Pulls from a durable consumer until `signal` aborts, calling `onDelivery` for each message in
   * delivery order. nats.js keeps `batch` messages requested ahead and re-pulls at 75 %; it
   * recovers from disconnects and a deleted-and-recreated consumer on its own. `expiresMs` bounds
   * how long each pull request lives on the server (nats.js default 30 s).
   */
  async consume(
    stream: string,
    name: string,
    batch: number,
    onDelivery: (d: Delivery) => void,
    signal: AbortSignal,
    expiresMs?: number,
  ): Promise<void> {
    const consumer = await this.#js.consumers.get(stream, name);
    const messages = await consumer.consume({
      max_messages: batch,
      ...(expiresMs === undefined ? {} : { expires: expiresMs }),
    });
    const stop = () => void messages.close();
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of messages) onDelivery(toDelivery(m));
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** Publishes to a stream subject; resolves with the stored sequence (a duplicate counts as stored). */
  async publish(
    subject: string,
    data: Uint8Array | string,
    opts: { msgID?: string; headers?: Record<string, string> } = {},
  ): Promise<number> {
    const h = opts.headers && Object.keys(opts.headers).length ? natsHeaders() : undefined;
    for (const [k, v] of Object.entries(opts.headers ?? {})) h!.set(k, v);
    const ack = await this.#js.publish(subject, data, {
      ...(opts.msgID ? { msgID: opts.msgID } : {}),
      ...(h ? { headers: h } : {}),
    });
    return ack.seq;
  }

  async getMessage(stream: string, seq: number): Promise<StoredMessage | null> {
    try {
      const m = await this.#jsm.streams.getMessage(stream, { seq });
      return m
        ? { subject: m.subject, seq: m.seq, time: m.time, headers: headerRecord(m.header), data: m.data }
        : null;
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.NoMessageFound) || isApiError(e, JetStreamApiCodes.StreamNotFound))
        return null;
      throw e;
    }
  }

  /**
   * The latest message on `subject` (a literal subject), read with a direct get (any replica may
   * answer: the stream needs `allow_direct`, as the connector's are), or null when there is none.
   */
  async lastMessageOf(stream: string, subject: string): Promise<StoredMessage | null> {
    try {
      const m = await this.#jsm.direct.getMessage(stream, { last_by_subj: subject });
      return m
        ? { subject: m.subject, seq: m.seq, time: m.time, headers: headerRecord(m.header), data: m.data }
        : null;
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.NoMessageFound)) return null;
      throw e;
    }
  }

  async deleteMessage(stream: string, seq: number): Promise<boolean> {
    try {
      return await this.#jsm.streams.deleteMessage(stream, seq, false);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.NoMessageFound)) return false;
      throw e;
    }
  }

  /** Every message of `stream` on subjects matching `filter`, in stream order. */
  async readSubject(stream: string, filter: string): Promise<StoredMessage[]> {
    if (!(await this.streamInfo(stream))) return [];
    // One filter as a string: an array needs nats-server ≥ 2.10.
    const c = await this.#js.consumers.get(stream, { filter_subjects: filter });
    const out: StoredMessage[] = [];
    if ((await c.info(true)).num_pending === 0) return out;
    const msgs = await c.consume({ max_messages: 256 });
    for await (const m of msgs) {
      out.push({
        subject: m.subject,
        seq: m.seq,
        time: m.time,
        headers: headerRecord(m.headers),
        data: m.data,
      });
      if (m.info.pending === 0) break;
    }
    await msgs.close();
    return out;
  }

  /**
   * Reads a stream (or the subjects matching `filter`) from its first message to its end with an
   * ordered consumer, calling `onMessage` in stream order; awaits `onMessage`, which is how the
   * caller slows the read down. Stops early when `signal` aborts.
   */
  async readStream(
    stream: string,
    filter: string | undefined,
    onMessage: (m: StoredMessage) => Promise<void> | void,
    signal: AbortSignal,
  ): Promise<void> {
    const c = await this.#js.consumers.get(stream, filter ? { filter_subjects: filter } : {});
    if ((await c.info(true)).num_pending === 0) return;
    const msgs = await c.consume({ max_messages: 256 });
    const stop = () => void msgs.close();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of msgs) {
        await onMessage({ subject: m.subject, seq: m.seq, time: m.time, headers: {}, data: m.data });
        if (m.info.pending === 0 || signal.aborted) break;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      await msgs.close().catch(() => undefined);
    }
  }

  /** First and last sequence of a stream. */
  async streamBounds(stream: string): Promise<{ first: number; last: number }> {
    const info = await this.#jsm.streams.info(stream);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  /** The whole event of a message body: fetched from the object store for a reference event. */
  resolveLargeEvent(body: string): Promise<string> {
    return fetchLargeEvent(this.nc, body);
  }
}

/** Compare-and-set entries of a KV bucket whose entries expire (leases). Revisions are the KV's. */
export interface ExpiringEntries {
  /** Creates `key` when it does not exist (or expired); its revision, or null when it exists. */
  create(key: string, value: string): Promise<number | null>;
  /** Replaces `key` if its revision is still `revision`; the new revision, or null when it changed or expired. */
  update(key: string, value: string, revision: number): Promise<number | null>;
  /** Deletes `key` if its revision is still `revision`. */
  remove(key: string, revision: number): Promise<void>;
  /** The current value and revision, or null. */
  get(key: string): Promise<{ value: string; revision: number } | null>;
}

/** Opens (creating when missing) a KV bucket whose entries expire `ttlMs` after their last write. */
export async function expiringEntries(
  client: JetStreamClient,
  bucket: string,
  ttlMs: number,
): Promise<ExpiringEntries> {
  const kv: KV = await new Kvm(client.nc).create(bucket, { ttl: ttlMs, history: 1 });
  return kvEntries(kv);
}

function startPolicy(s: DurableSettings['start']): Partial<ConsumerConfig> {
  switch (s.kind) {
    case 'all':
      return { deliver_policy: DeliverPolicy.All };
    case 'new':
      return { deliver_policy: DeliverPolicy.New };
    case 'sequence':
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: s.seq };
    case 'time':
      return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: s.time.toISOString() };
  }
}

function toDelivery(m: JsMsg): Delivery {
  const info = m.info;
  return {
    subject: m.subject,
    stream: info.stream,
    seq: m.seq,
    deliveryCount: info.deliveryCount,
    redelivered: m.redelivered,
    time: m.time,
    get headers() {
      return headerRecord(m.headers);
    },
    data: m.data,
    pending: info.pending,
    ack: () => m.ack(),
    nak: (ms) => m.nak(ms),
    working: () => m.working(),
    term: (r) => m.term(r),
  };
}

function headerRecord(h: { keys(): string[]; get(k: string): string } | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

function isApiError(e: unknown, code: number): boolean {
  return e instanceof JetStreamApiError && e.code === code;
}

/** Text of a message body. */
export function bodyText(data: Uint8Array): string {
  return DEC.decode(data);
}
