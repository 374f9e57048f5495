/**
 * The JetStream sink: pipelined publishes with one reply subscription collecting the
 * acknowledgements (what Go's PublishAsync does), a bounded window, and a checkpoint that only
 * moves past transactions whose every message was acknowledged.
 *
 * Why pipelined: nats.js's `js.publish()` is one request (a promise, a timer, a subscription
 * lookup) per message and tops out far below what nats-server accepts. Here a publish is a plain
 * `PUB` with a reply subject `<inbox>.<n>`; acks arrive on one wildcard subscription.
 *
 * Ordering and no gaps: every message carries `Nats-Expected-Last-Sequence`, the stream sequence the
 * previous message of this session got (or will get). Sluice is the only writer of its streams, so
 * a stream is always an unbroken prefix of the event sequence: if any message is lost (a dropped
 * connection) every later one is rejected, the session fails, and the connector restarts from
 * the durable checkpoint, skipping what the stream already holds. Never a gap, never a reorder.
 *
 * Facts trail deltas: a change's fact is published only once its delta is acknowledged, so the facts
 * stream never holds a change the deltas stream lacks. After a crash the deltas stream is therefore
 * at or ahead of the facts stream, and the previous row of any entity can be read back from the
 * facts stream as of exactly the position being replayed (see change-processor.ts).
 *
 * Shared streams: `<P>_EVENTS` and `<P>_DLQ` have other writers (enrichers, the consumer runtime),
 * so stream sequences there cannot be predicted. Domain events and outbox dead letters go out one
 * per subject at a time, each with `Nats-Expected-Last-Subject-Sequence` set to the sequence the
 * previous one of that subject got: every subject the connector writes is an unbroken prefix of
 * its events, in commit order (see events/domain-events.ts for the replay that relies on it).
 */
import { createInbox, type NatsConnection, type Subscription, type Msg } from '@nats-io/transport-node';
import { ErrorCodes, SluiceError } from '../errors.js';
import { Checkpoint, TxTicket } from './checkpoint.js';
import type { ChangeSink, OutMessage, SharedStream } from '../ports.js';
import { EXPECTED_SEQ, EXPECTED_SUBJECT_SEQ, FrameWriter, headerBytes, writeHeader } from './frames.js';

/**
 * nats.js' protocol handler, which queues raw protocol bytes for the socket: a public member of
 * nats-core's connection class (`NatsConnectionImpl.protocol.sendCommand`), not of the
 * `NatsConnection` interface. The sink writes its publish frames through it (frames.ts) when the
 * connection has it, and through `publish()` otherwise.
 */
interface ProtocolQueue {
  sendCommand(cmd: Uint8Array): void;
}

function protocolQueue(nc: NatsConnection): ProtocolQueue | null {
  const p = (nc as { protocol?: { sendCommand?: unknown } }).protocol;
  return p && typeof p.sendCommand === 'function' ? (p as ProtocolQueue) : null;
}

/** The streams a connector writes: its own two, and the two it shares with other writers. */
export const Streams = { facts: 0, deltas: 1, events: 2, dlq: 3 } as const;
export type StreamIndex = (typeof Streams)[keyof typeof Streams];
export interface SinkOptions {
  streams: readonly [facts: string, deltas: string];
  /** Names of the shared streams (`<P>_EVENTS`, `<P>_DLQ`), for error messages. */
  sharedStreams?: { readonly events: string; readonly dlq: string };
  /** Last sequence of each stream at session start ([facts, deltas]). */
  lastSeq: readonly [number, number];
  /** Most messages in flight (sent or queued, unacknowledged). */
  maxInFlight: number;
  /** Most bytes in flight. */
  maxInFlightBytes: number;
  /** Milliseconds an acknowledgement may take before the session fails. */
  ackTimeoutMs: number;
  /** Called with the end LSN of the newest transaction whose messages are all acknowledged. */
  onCheckpoint(endLsn: bigint): void;
  /** Called once when the session cannot go on (publish rejected, ack timeout, disconnect). */
  onFatal(err: Error): void;
  /**
   * Called right before a fact whose delta was acknowledged is published: the instant where facts
   * trail deltas (fault tests end the process here). Optional.
   */
  beforeTrailingFact?: () => void;
  /** Called with the subject of every message sent (metrics count events by table). Optional. */
  onPublish?: (subject: string) => void;
  /**
   * Called right before every message is handed to NATS; throwing refuses the publish and ends the
   * session (the connector's leader lease, see docs/operations.md#high-availability). Optional.
   */
  fence?: () => void;
  /** Extra header sent with every message, e.g. `Sluice-Epoch: 7` (without CRLF). Optional. */
  header?: string;
}

interface Pending {
  readonly tx: TxTicket;
  readonly bytes: number;
  readonly stream: StreamIndex;
  readonly expectedSeq: number;
  readonly sentAt: number;
  acked: boolean;
  onAck: ((seq: number) => void) | null;
  /** The subject chain of a shared-stream message (its sequence is not predicted), else null. */
  chain: SubjectChain | null;
}

/** One subject of a shared stream: at most one message in flight, the rest queued in order. */
interface SubjectChain {
  readonly subject: string;
  /** Sequence of the subject's last stored message (0: none). */
  lastSeq: number;
  busy: boolean;
  readonly queue: { msg: OutMessage; bytes: number; tx: TxTicket }[];
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

interface QueuedFact {
  readonly subject: string;
  readonly id: string;
  /** The body's bytes, encoded when it was queued (what the window counts). */
  readonly body: Uint8Array;
  readonly tx: TxTicket;
  /** The delta this fact must wait for, or null. */
  readonly after: Pending | null;
  readonly onAck: ((seq: number) => void) | null;
}

const DEC = new TextDecoder();

/**
 * A message in NATS wire form for `nc.publish()`: the header block and the body as views of slab
 * memory (below), no MsgHdrs object and no intermediate header string beyond the id.
 * `headers.encode()` hands nats.js the header view.
 */
export interface WireMessage {
  readonly headers: { encode(): Uint8Array };
  readonly body: Uint8Array;
}

/**
 * Bytes are written into a shared slab, one region per header block or body, never reused: a
 * region stays valid as long as anything holds its view, and a slab is freed by the garbage
 * collector once no view of it is left. No allocation per message beyond the views, and a body is
 * written straight into worst-case room (3 bytes per UTF-16 unit) in one pass, with no
 * `Buffer.byteLength` pass before it.
 */
const SLAB_BYTES = 1 << 20;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

function room(bytes: number): number {
  if (slabUsed + bytes > slab.length) {
    slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
    slabUsed = 0;
  }
  return slabUsed;
}

/** A body's UTF-8 bytes, encoded once (a fact waiting for its delta's ack holds these, not a string). */
export function encodeBody(body: string): Uint8Array {
  const start = room(body.length * 3);
  const end = start + slab.write(body, start, 'utf8');
  slabUsed = (end + 7) & ~7;
  return slab.subarray(start, end);
}

/** The header block handed to nats.js (`encode()` is all nats.js calls on headers). */
class HeaderBlock {
  constructor(readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}

/** The header block of a message: its id, an expected-sequence header and `extra` lines. */
export function wireHeaders(
  id: string,
  header: string,
  expectedLastSeq: number,
  /** Further header lines, each ending in CRLF (the leader header under HA), or ''. */
  extra = '',
): HeaderBlock {
  const seq = String(expectedLastSeq);
  // Ids, header names and values are written as latin1: one byte per UTF-16 unit.
  const start = room(headerBytes(id, header, seq, extra));
  const o = writeHeader(slab, start, id, header, seq, extra);
  slabUsed = (o + 7) & ~7;
  return new HeaderBlock(slab.subarray(start, o));
}

/** A whole message in wire form (the header block and the body's bytes). */
export function wireMessage(
  id: string,
  header: string,
  expectedLastSeq: number,
  body: string,
  extra = '',
): WireMessage {
  return { headers: wireHeaders(id, header, expectedLastSeq, extra), body: encodeBody(body) };
}

/**
 * Reads a JetStream publish ack (`{"stream":"…","seq":N}` or `{"stream":"…","seq":N,"duplicate":true}`
 * or `{"error":{…}}`) straight from its bytes: the sequence for a plain success, else null, and the
 * caller parses the body as JSON (errors, duplicates, anything unexpected). No string, no JSON.parse
 * on the hot path.
 */
export function ackSeq(data: Uint8Array): number | null {
  const n = data.length;
  // The body must be one object whose last member is "seq": `…,"seq":<digits>}`.
  if (n < 9 || data[0] !== 0x7b /* { */ || data[n - 1] !== 0x7d /* } */) return null;
  let i = n - 2;
  let seq = 0;
  let mul = 1;
  while (i > 0 && data[i]! >= 0x30 && data[i]! <= 0x39) {
    seq += (data[i]! - 0x30) * mul;
    mul *= 10;
    i--;
  }
  if (i === n - 2 || mul > 1e16) return null;
  // `,"seq":` right before the digits.
  if (
    data[i] !== 0x3a /* : */ ||
    data[i - 1] !== 0x22 /* " */ ||
    data[i - 2] !== 0x71 /* q */ ||
    data[i - 3] !== 0x65 /* e */ ||
    data[i - 4] !== 0x73 /* s */ ||
    data[i - 5] !== 0x22 /* " */ ||
    data[i - 6] !== 0x2c /* , */
  )
    return null;
  // The members before: `"stream":"<name>"` only (a stream name has no quote), else the slow path.
  if (data[1] !== 0x22 || data[2] !== 0x73 /* "s */ || data[i - 7] !== 0x22) return null;
  for (let j = 11; j < i - 7; j++) if (data[j] === 0x22 || data[j] === 0x5c /* \\ */) return null;
  const prefix = '{"stream":"';
  for (let j = 0; j < prefix.length; j++) if (data[j] !== prefix.charCodeAt(j)) return null;
  return seq;
}

export class JetStreamSink implements ChangeSink {
  readonly #nc: NatsConnection;
  readonly #o: SinkOptions;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** Sequence the last message sent to each stream gets ([facts, deltas]). */
  readonly #lastSeq: [number, number];
  readonly #factQueue: QueuedFact[] = [];
  #factHead = 0;
  /** Tickets of the transactions not yet confirmed (see checkpoint.ts). */
  readonly #checkpoint = new Checkpoint();
  #inFlight = 0;
  #inFlightBytes = 0;
  #waiters: Waiter[] = [];
  #drainWaiters: Waiter[] = [];
  #failed: Error | null = null;
  #timer: NodeJS.Timeout;
  readonly #maxPayload: number;
  /** Counters for metrics. */
  readonly stats = { published: [0, 0, 0, 0], acked: [0, 0, 0, 0], bytes: 0, duplicates: 0 };
  /** Chains of the shared streams' subjects used in this session. */
  readonly #chains = new Map<string, SubjectChain>();
  /** `opts.header` as a header line (CRLF-terminated), or ''. */
  readonly #extraHeader: string;
  /** Publish frames written straight into nats.js' queue (null: through `nc.publish`). */
  readonly #frames: FrameWriter | null;

  constructor(nc: NatsConnection, opts: SinkOptions) {
    this.#nc = nc;
    this.#o = opts;
    this.#extraHeader = opts.header ? `${opts.header}\r\n` : '';
    this.#lastSeq = [opts.lastSeq[0], opts.lastSeq[1]];
    this.#inbox = createInbox('_SLUICE');
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => this.#onAck(err, msg) });
    this.#maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    const queue = protocolQueue(nc);
    this.#frames = queue ? new FrameWriter((bytes) => queue.sendCommand(bytes)) : null;
    this.#timer = setInterval(() => this.#checkTimeouts(), Math.min(1000, opts.ackTimeoutMs));
    this.#timer.unref();
  }

  /** Largest message body this server accepts, in bytes (headers included). */
  get maxPayload(): number {
    return this.#maxPayload;
  }

  /** Messages sent or queued and not yet acknowledged. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Bytes of message bodies sent or queued and not yet acknowledged. */
  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  /** True when nothing is in flight and no transaction is open. */
  get idle(): boolean {
    return this.#inFlight === 0 && !this.#checkpoint.pending;
  }

  /** Resolves when there is room in the window; undefined (no promise) when there is room now. */
  capacity(): Promise<void> | undefined {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#inFlight < this.#o.maxInFlight && this.#inFlightBytes < this.#o.maxInFlightBytes)
      return undefined;
    return new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Resolves when everything published so far is acknowledged. */
  drained(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /** Opens a transaction ticket; messages of the transaction are counted against it. */
  begin(): TxTicket {
    return this.#checkpoint.begin();
  }

  /** The source sent the whole transaction; it completes when its messages are acknowledged. */
  commit(tx: TxTicket, endLsn: bigint): void {
    this.#checkpoint.commit(tx, endLsn);
    this.#advanceCheckpoint();
  }

  /**
   * Publishes a change: the delta now, the fact once the delta is acknowledged. Either may be null
   * (a skipped or absent message); a fact without a delta still waits behind earlier facts.
   */
  publishChange(
    tx: TxTicket,
    delta: OutMessage | null,
    fact: OutMessage | null,
    onFactAck: ((seq: number) => void) | null = null,
  ): void {
    let deltaPending: Pending | null = null;
    if (delta)
      deltaPending = this.#send(Streams.deltas, delta.subject, delta.id, encodeBody(delta.body), tx, null);
    if (fact) {
      // The body is encoded now: a fact waiting for its delta's ack holds bytes outside the heap,
      // not a string of many pieces the garbage collector would copy while it waits. Its header
      // is written when it is sent (its expected sequence is known only then).
      const body = encodeBody(fact.body);
      tx.outstanding++;
      this.#inFlight++;
      this.#inFlightBytes += body.length;
      this.#factQueue.push({
        subject: fact.subject,
        id: fact.id,
        body,
        tx,
        after: deltaPending,
        onAck: onFactAck,
      });
      this.#pumpFacts();
    }
  }

  /** Publishes a message on the deltas stream (the transaction commit marker). */
  publishDelta(tx: TxTicket, msg: OutMessage): void {
    this.#send(Streams.deltas, msg.subject, msg.id, encodeBody(msg.body), tx, null);
  }

  /**
   * Publishes on a shared stream (`<P>_EVENTS`, `<P>_DLQ`), in order per subject: the message goes
   * out once the previous one of its subject is acknowledged, expecting that one's sequence as the
   * subject's last. `lastSubjectSeq` is the subject's last stored sequence when the session first
   * uses it (0: none); later calls for the subject ignore it.
   */
  publishShared(tx: TxTicket, stream: SharedStream, msg: OutMessage, lastSubjectSeq: number): void {
    const bytes = Buffer.byteLength(msg.body, 'utf8');
    tx.outstanding++;
    this.#inFlight++;
    this.#inFlightBytes += bytes;
    let chain = this.#chains.get(msg.subject);
    if (!chain) {
      chain = { subject: msg.subject, lastSeq: lastSubjectSeq, busy: false, queue: [] };
      this.#chains.set(msg.subject, chain);
    }
    if (chain.busy) chain.queue.push({ msg, bytes, tx });
    else this.#sendShared(Streams[stream], chain, msg, tx, bytes);
  }

  #sendShared(stream: StreamIndex, chain: SubjectChain, msg: OutMessage, tx: TxTicket, bytes: number): void {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new SluiceError(ErrorCodes.protocol, 'publish after the session ended');
    this.#o.fence?.();
    const id = this.#nextId++;
    chain.busy = true;
    this.#pending.set(id, {
      tx,
      bytes,
      stream,
      expectedSeq: -1,
      sentAt: Date.now(),
      acked: false,
      onAck: null,
      chain,
    });
    this.stats.published[stream]!++;
    this.stats.bytes += bytes;
    this.#o.onPublish?.(msg.subject);
    this.#publish(msg.subject, id, msg.id, EXPECTED_SUBJECT_SEQ, chain.lastSeq, encodeBody(msg.body));
  }

  /** Hands one message to NATS with reply subject `<inbox>.<n>`. */
  #publish(subject: string, n: number, id: string, header: string, seq: number, body: Uint8Array): void {
    const frames = this.#frames;
    if (!frames) {
      const headers = wireHeaders(id, header, seq, this.#extraHeader);
      this.#nc.publish(subject, body, { reply: `${this.#inbox}.${n}`, headers: headers as never });
      return;
    }
    // What nc.publish() checks before it queues a message.
    if (this.#nc.isClosed())
      throw new SluiceError(ErrorCodes.publishFailed, 'the NATS connection is closed; resynchronising.');
    const size = headerBytes(id, header, String(seq), this.#extraHeader) + body.length;
    if (size > this.#maxPayload)
      throw new SluiceError(
        ErrorCodes.publishFailed,
        `a message of ${size} bytes exceeds the NATS server's max_payload (${this.#maxPayload} bytes).`,
      );
    frames.hpub(subject, this.#inbox, n, id, header, seq, this.#extraHeader, body);
  }

  /** A shared-stream message was stored at `seq`: the next one of its subject may go. */
  #chainAcked(p: Pending, seq: number): void {
    const chain = p.chain!;
    chain.lastSeq = seq;
    chain.busy = false;
    const next = chain.queue.shift();
    if (!next) return;
    try {
      this.#sendShared(p.stream, chain, next.msg, next.tx, next.bytes);
    } catch (e) {
      this.#fail(e as Error); // inside the ack callback: end the session, never throw into nats.js
    }
  }

  #streamName(i: StreamIndex): string {
    if (i === Streams.events) return this.#o.sharedStreams?.events ?? 'the events stream';
    if (i === Streams.dlq) return this.#o.sharedStreams?.dlq ?? 'the dead-letter stream';
    return this.#o.streams[i as 0 | 1];
  }

  #send(
    stream: typeof Streams.facts | typeof Streams.deltas,
    subject: string,
    id: string,
    body: Uint8Array,
    tx: TxTicket,
    onAck: ((seq: number) => void) | null,
    /** True for a queued fact: already counted in the window. */
    counted = false,
  ): Pending {
    // A session that ended must not write again: its sequence expectations are stale, and a late
    // publish (a read that resolved after the session ended) could land between the next session's
    // messages. The caller's processing fails instead.
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new SluiceError(ErrorCodes.protocol, 'publish after the session ended');
    this.#o.fence?.();
    const n = this.#nextId++;
    const expected = this.#lastSeq[stream]++;
    const bytes = body.length;
    if (!counted) {
      tx.outstanding++;
      this.#inFlight++;
      this.#inFlightBytes += bytes;
    }
    const p: Pending = {
      tx,
      bytes,
      stream,
      expectedSeq: expected + 1,
      sentAt: Date.now(),
      acked: false,
      onAck,
      chain: null,
    };
    this.#pending.set(n, p);
    this.stats.published[stream]!++;
    this.stats.bytes += bytes;
    this.#o.onPublish?.(subject);
    this.#publish(subject, n, id, EXPECTED_SEQ, expected, body);
    return p;
  }

  #pumpFacts(): void {
    const q = this.#factQueue;
    while (this.#factHead < q.length) {
      const f = q[this.#factHead]!;
      if (f.after && !f.after.acked) break;
      if (f.after) this.#o.beforeTrailingFact?.();
      q[this.#factHead++] = undefined as never;
      try {
        this.#send(Streams.facts, f.subject, f.id, f.body, f.tx, f.onAck, true);
      } catch (e) {
        // Runs inside the ack subscription's callback: an error must end the session, not
        // escape into nats.js and close its reader.
        return this.#fail(e as Error);
      }
    }
    if (this.#factHead > 1024 && this.#factHead * 2 > q.length) {
      q.splice(0, this.#factHead);
      this.#factHead = 0;
    }
  }

  #onAck(err: Error | null, msg: Msg): void {
    if (this.#failed) return;
    if (this.#closed) return;
    if (err) return this.#fail(err);
    const id = Number(msg.subject.slice(this.#inbox.length + 1));
    const p = this.#pending.get(id);
    if (!p) return; // an ack of a message from before a failure: ignore
    this.#pending.delete(id);
    const data = msg.data;
    const fast = ackSeq(data);
    if (fast !== null) {
      if (!p.chain && fast !== p.expectedSeq) return this.#failSeq(p, fast);
      return this.#acked(p, fast);
    }
    const text = data.length > 0 ? DEC.decode(data) : '';
    let ack: {
      seq?: number;
      duplicate?: boolean;
      error?: { code: number; err_code?: number; description: string };
    };
    if (text === '') {
      // No body: a status message, e.g. 503 "no responders" when the stream does not exist.
      const code = msg.headers?.code ?? 0;
      return this.#fail(
        new SluiceError(
          ErrorCodes.publishFailed,
          `JetStream did not accept a publish to ${this.#streamName(p.stream)} (status ${code}${code === 503 ? ': no stream listens on the subject' : ''}).`,
          { hint: 'Check that the stream exists (sluice doctor) and that JetStream is enabled.' },
        ),
      );
    }
    try {
      ack = JSON.parse(text);
    } catch (cause) {
      return this.#fail(new SluiceError(ErrorCodes.protocol, `unreadable JetStream ack: ${text}`, { cause }));
    }
    if (ack.error && p.chain && ack.error.err_code === 10071) {
      return this.#fail(
        new SluiceError(
          ErrorCodes.protocol,
          `another writer published on ${p.chain.subject} in ${this.#streamName(p.stream)}; the connector must be the only writer of its domain-event subjects.`,
          { hint: 'Give enrichers event types that differ from the outbox types (or another prefix).' },
        ),
      );
    }
    if (ack.error) {
      return this.#fail(
        new SluiceError(
          ErrorCodes.publishFailed,
          `JetStream rejected a publish to ${this.#streamName(p.stream)}: ${ack.error.description} (${ack.error.err_code ?? ack.error.code}).`,
        ),
      );
    }
    if (ack.duplicate) {
      // Already stored, so the stream sequence did not move; later expectations are now off by
      // one and will be rejected: fail fast, the restart resynchronises from the stream.
      this.stats.duplicates++;
      return this.#fail(
        new SluiceError(ErrorCodes.publishFailed, 'JetStream reported a duplicate publish; resynchronising.'),
      );
    }
    if (typeof ack.seq !== 'number') {
      return this.#fail(new SluiceError(ErrorCodes.protocol, `unreadable JetStream ack: ${text}`));
    }
    if (!p.chain && ack.seq !== p.expectedSeq) return this.#failSeq(p, ack.seq);
    this.#acked(p, ack.seq);
  }

  #failSeq(p: Pending, seq: number): void {
    this.#fail(
      new SluiceError(
        ErrorCodes.protocol,
        `JetStream stored a message at sequence ${seq} of ${this.#streamName(p.stream)}, expected ${p.expectedSeq}: another writer uses the stream.`,
        { hint: 'Give each Sluice source its own prefix (SLUICE_PREFIX).' },
      ),
    );
  }

  /** A message was stored at `seq` (checked): count it, release what waited for it. */
  #acked(p: Pending, seq: number): void {
    p.acked = true;
    this.stats.acked[p.stream]!++;
    this.#inFlight--;
    this.#inFlightBytes -= p.bytes;
    p.tx.outstanding--;
    if (p.onAck) p.onAck(seq);
    if (p.chain) this.#chainAcked(p, seq);
    if (p.stream === Streams.deltas) this.#pumpFacts();
    this.#advanceCheckpoint();
    this.#wake();
  }

  #advanceCheckpoint(): void {
    const last = this.#checkpoint.advance();
    if (last !== null) this.#o.onCheckpoint(last);
  }

  #wake(): void {
    // Waiters resume once a quarter of the window is free, not at the first free slot: the reader
    // then processes a batch of changes in one go and nats.js writes them in few socket writes,
    // instead of one change (and one small write) per acknowledgement while the window is full.
    if (
      this.#waiters.length &&
      this.#inFlight <= (this.#o.maxInFlight * 3) >>> 2 &&
      this.#inFlightBytes <= this.#o.maxInFlightBytes * 0.75
    ) {
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f.resolve();
    }
    if (this.#inFlight === 0 && this.#drainWaiters.length) {
      const w = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const f of w) f.resolve();
    }
  }

  #checkTimeouts(): void {
    if (this.#failed) return;
    const first = this.#pending.values().next();
    if (first.done) return;
    const age = Date.now() - first.value.sentAt;
    if (age > this.#o.ackTimeoutMs) {
      this.#fail(
        new SluiceError(
          ErrorCodes.publishFailed,
          `no JetStream acknowledgement for ${Math.round(age / 1000)} s; NATS is down or overloaded, resynchronising.`,
        ),
      );
    }
  }

  /** Fails the session: pending waiters reject, later acks are ignored. */
  fail(err: Error): void {
    this.#fail(err);
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    clearInterval(this.#timer);
    const waiters = [...this.#waiters, ...this.#drainWaiters];
    this.#waiters = [];
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(err);
    this.#o.onFatal(err);
  }

  /** The error that ended the session, if any. */
  get failure(): Error | null {
    return this.#failed;
  }

  #closed = false;

  /** Stops listening for acks. Idempotent. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      this.#sub.unsubscribe();
    } catch {
      /* connection already closed */
    }
  }
}
