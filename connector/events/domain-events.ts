/**
 * Domain events from the outbox, and the application context (see docs/events.md, "Domain events").
 *
 * The change processor hands this module the `sluice.outbox` and `sluice.context` messages of a
 * transaction as they arrive — pgoutput delivers a transactional message at its place among the
 * transaction's row changes, so an outbox event takes the next index of the transaction and its
 * version sorts exactly between the changes written before and after it.
 *
 * Where they go: `<P>_EVENTS` (and `<P>_DLQ` for messages that cannot be published) are shared with
 * other writers (enrichers publish integration events there, the consumer runtime its dead letters),
 * so the connector cannot predict stream sequences there as it does for its own facts and deltas.
 * It orders per subject instead: one message per subject in flight, each with
 * `Nats-Expected-Last-Subject-Sequence` (see jetstream-sink.ts `publishShared`), which makes each
 * subject an unbroken prefix of the connector's events of that type. Replay after a restart then
 * skips an event exactly when its subject's last stored event has this version or a newer one
 * (read once per subject and session): nothing twice, nothing skipped.
 */
import type { TxTicket, OutMessage, SharedStream } from '../ports.js';
import { formatVersion } from '../../schemas/versions.js';
import { outboxDeadLetterSubject, outboxSubject, type EventContracts } from '../../schemas/outbox.js';
import { readContextMessage, readOutboxMessage } from './outbox-messages.js';
import { DOMAIN_EMPTIED, fitsInMessage, referenceBody } from './claim-check.js';
import type { Logger } from '../logger.js';

/** The open transaction as this module sees it (the change processor's transaction state). */
export interface EventTx {
  readonly commitLsn: bigint;
  readonly time: string;
  /** `{"id":…,"lsn":"…","commitTime":"…","seq":` */
  readonly txPrefix: string;
  readonly ticket: TxTicket;
  /** Next index in the transaction. */
  idx: number;
  /** `,"context":{…}` for the transaction's next events, or ''. */
  context: string;
  /** Domain events published for the transaction (for its commit marker). */
  outbox: number;
}

/** The last stored message of a subject: its stream sequence and `data.version`. */
export interface SubjectHead {
  seq: number;
  version: string | null;
}

/** Reads of the shared streams (the latest message of one subject, leader-consistent). */
export interface SharedStreamReader {
  lastOnSubject(stream: SharedStream, subject: string): Promise<SubjectHead | null>;
}

/** The sink as this module uses it. */
export interface SharedSink {
  capacity(): Promise<void> | undefined;
  publishShared(tx: TxTicket, stream: SharedStream, msg: OutMessage, lastSubjectSeq: number): void;
}

/** Stores an event too large for one message (connector/sink/large-events.ts). */
export interface LargeBodyStore {
  readonly maxPayload: number;
  readonly store: string;
  put(name: string, body: string): Promise<void>;
}

export interface DomainEventOptions {
  prefix: string;
  /** Source name (CloudEvents `source` is `sluice/<source>`). */
  source: string;
  sink: SharedSink;
  reader: SharedStreamReader;
  /** Payload contracts by event type (the `outboxContracts` module), or null. */
  contracts: EventContracts | null;
  large?: LargeBodyStore;
  log: Logger;
}

export class DomainEvents {
  readonly #o: DomainEventOptions;
  readonly #sourceJson: string;
  readonly #idPrefix: string;
  /** Last stored message of each subject used in this session, read once. */
  readonly #heads = new Map<string, SubjectHead>();
  #warnedContext = false;
  /** Counters for metrics and logs. */
  readonly stats = { events: 0, deadLettered: 0, skipped: 0 };

  constructor(opts: DomainEventOptions) {
    this.#o = opts;
    this.#sourceJson = JSON.stringify(`sluice/${opts.source}`);
    this.#idPrefix = `${opts.source}:`;
  }

  /**
   * A `sluice.context` message: the context of the transaction's events from here on. A later one
   * replaces it; an unreadable one is ignored (with a warning), leaving the context as it was.
   */
  context(tx: EventTx, content: Buffer): void {
    const r = readContextMessage(content);
    if (r.ok) {
      tx.context = `,"context":${r.json}`;
      return;
    }
    if (!this.#warnedContext) {
      this.#warnedContext = true;
      this.#o.log.warn({ lsn: tx.commitLsn.toString(16) }, r.error);
    }
  }

  /** A `sluice.outbox` message: a domain event, or a dead letter when it cannot be published. */
  outbox(tx: EventTx, content: Buffer): void | Promise<void> {
    const idx = tx.idx++;
    const version = formatVersion(tx.commitLsn, idx);
    const r = readOutboxMessage(content, this.#o.contracts);
    const txJson = tx.txPrefix + idx + '}';
    let stream: SharedStream;
    let msg: OutMessage;
    if (r.ok) {
      tx.outbox++;
      this.stats.events++;
      stream = 'events';
      msg = {
        subject: outboxSubject(this.#o.prefix, r.type),
        id: `${this.#idPrefix}${version}:event`,
        body:
          `{"specversion":"1.0","id":"${this.#idPrefix}${version}:event","source":${this.#sourceJson},` +
          `"type":"${r.type}","time":"${tx.time}","subject":${JSON.stringify(r.key)},"datacontenttype":"application/json","data":` +
          `{"type":"${r.type}","key":${JSON.stringify(r.key)},"payload":${r.payload},"version":"${version}","tx":${txJson}${tx.context}}}`,
      };
    } else {
      this.stats.deadLettered++;
      stream = 'dlq';
      const type = r.type !== undefined ? `,"type":${JSON.stringify(r.type)}` : '';
      msg = {
        subject: outboxDeadLetterSubject(this.#o.prefix),
        id: `${this.#idPrefix}${version}:dlq`,
        body:
          `{"specversion":"1.0","id":"${this.#idPrefix}${version}:dlq","source":${this.#sourceJson},` +
          `"type":"io.sluice.outbox.rejected","time":"${tx.time}","datacontenttype":"application/json","data":` +
          `{"reason":"${r.reason}","error":${JSON.stringify(r.error)},"message":${JSON.stringify(content.toString('utf8'))}${type},"version":"${version}","tx":${txJson}${tx.context}}}`,
      };
      this.#o.log.warn(
        { type: r.type, version, reason: r.reason },
        `outbox message dead-lettered on ${msg.subject}: ${r.error}`,
      );
    }
    const head = this.#heads.get(msg.subject);
    if (head) return this.#publish(tx, stream, msg, version, head);
    return this.#o.reader.lastOnSubject(stream, msg.subject).then((h) => {
      const loaded = h ?? { seq: 0, version: null };
      this.#heads.set(msg.subject, loaded);
      return this.#publish(tx, stream, msg, version, loaded);
    });
  }

  #publish(
    tx: EventTx,
    stream: SharedStream,
    msg: OutMessage,
    version: string,
    head: SubjectHead,
  ): void | Promise<void> {
    // Stored already (a replay after a restart): the subject is an unbroken prefix, so anything at
    // or below its last stored version is there.
    if (head.version !== null && head.version >= version) {
      this.stats.skipped++;
      return;
    }
    const wait = this.#o.sink.capacity();
    if (wait) return wait.then(() => this.#send(tx, stream, msg, head));
    return this.#send(tx, stream, msg, head);
  }

  #send(tx: EventTx, stream: SharedStream, msg: OutMessage, head: SubjectHead): void | Promise<void> {
    const large = this.#o.large;
    if (fitsInMessage(msg.body, large?.maxPayload ?? Infinity)) {
      this.#o.sink.publishShared(tx.ticket, stream, msg, head.seq);
      return;
    }
    if (!large) throw new Error('domain event larger than max_payload and no large-event store');
    // Claim check, as for rows (claim-check.ts): the whole event in the large-event store, a reference in the stream.
    return large.put(msg.id, msg.body).then(() => {
      this.#o.sink.publishShared(
        tx.ticket,
        stream,
        { ...msg, body: referenceBody(msg.body, large.store, msg.id, DOMAIN_EMPTIED) },
        head.seq,
      );
    });
  }
}
