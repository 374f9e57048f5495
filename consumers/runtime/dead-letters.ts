/**
 * Dead letters: the record an event becomes after `maxDeliver` failed deliveries, and the store of
 * such records in the `<P>_DLQ` stream (one subject per consumer and kind, see
 * schemas/subjects.ts `deadLetterSubject`).
 *
 * - `entry`: an open dead letter. Its id is its sequence in `<P>_DLQ`.
 * - `redrive`: a request to hand an entry back to its consumer (written by `sluice dlq redrive`,
 *   executed by the running consumer, which deletes the entry and writes `redriven` once its
 *   handler succeeded, so an entry is handled once however many requests name it).
 * - `dropped`: the record of an entry discarded by `sluice dlq drop` (the entry, who and when).
 */
import { deadLetterSubject, streamNames } from '../../schemas/subjects.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import { bodyText, type JetStreamClient, type StoredMessage } from './jetstream-client.js';

/** A dead letter as stored (JSON). */
export interface DeadLetter {
  consumer: string;
  /** Stream and sequence of the original message (`<P>_DELTAS`/`<P>_FACTS`). */
  stream: string;
  sequence: number;
  subject: string;
  /** The ordering key (`schema.table/<key token>`). */
  key: string;
  /** The original event: parsed JSON, or the body text when it was not JSON. For a transaction, the marker and events. */
  event: unknown;
  error: { message: string; stack?: string };
  /** Deliveries that failed. */
  attempts: number;
  /** Times of the attempts this process saw (ISO 8601); attempts before a restart are counted, not timed. */
  attemptTimes: string[];
  deadLetteredAt: string;
}

/** An open dead letter with its id. */
export interface DeadLetterEntry extends DeadLetter {
  id: number;
}

/** A redrive request. */
export interface RedriveRequest {
  entry: number;
  requestedAt: string;
}

/** Builds the record of an event that failed for good. */
export function deadLetterRecord(input: {
  consumer: string;
  stream: string;
  sequence: number;
  subject: string;
  key: string;
  body: string;
  error: unknown;
  attempts: number;
  attemptTimes: readonly number[];
  now: number;
}): DeadLetter {
  let event: unknown = input.body;
  try {
    event = JSON.parse(input.body);
  } catch {
    // Not JSON (a foreign message on a captured subject): kept as text.
  }
  const err = input.error instanceof Error ? input.error : new Error(String(input.error));
  return {
    consumer: input.consumer,
    stream: input.stream,
    sequence: input.sequence,
    subject: input.subject,
    key: input.key,
    event,
    error: err.stack ? { message: err.message, stack: err.stack } : { message: err.message },
    attempts: input.attempts,
    attemptTimes: input.attemptTimes.map((t) => new Date(t).toISOString()),
    deadLetteredAt: new Date(input.now).toISOString(),
  };
}

/** The body a dead letter's event had when it was delivered (what the handler gets on redrive). */
export function originalBody(d: DeadLetter): string {
  return typeof d.event === 'string' ? d.event : JSON.stringify(d.event);
}

/** The `<P>_DLQ` stream of a prefix. */
export class DeadLetterStore {
  readonly stream: string;
  readonly #prefix: string;
  readonly #client: JetStreamClient;

  constructor(client: JetStreamClient, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
    this.stream = streamNames(prefix).dlq;
  }

  /** Creates `<P>_DLQ` when missing (limits retention, kept until dropped or redriven). */
  ensure(): Promise<void> {
    return this.#client.ensureStream(
      this.stream,
      [`${this.#prefix}.dlq.>`],
      'Sluice dead letters, redrive requests and their records',
    );
  }

  /** Stores a dead letter; deduplicated per original message, so a retried write stores it once. */
  async add(d: DeadLetter): Promise<number> {
    return this.#client.publish(deadLetterSubject(this.#prefix, d.consumer, 'entry'), JSON.stringify(d), {
      msgID: `dlq:${d.consumer}:${d.stream}:${d.sequence}`,
      headers: {
        'Sluice-Consumer': d.consumer,
        'Sluice-Stream': d.stream,
        'Sluice-Sequence': String(d.sequence),
      },
    });
  }

  /** Open dead letters of a consumer, oldest first. */
  async list(consumer: string): Promise<DeadLetterEntry[]> {
    const msgs = await this.#client.readSubject(
      this.stream,
      deadLetterSubject(this.#prefix, consumer, 'entry'),
    );
    return msgs.map(toEntry);
  }

  /** One open dead letter, or null. */
  async get(consumer: string, id: number): Promise<DeadLetterEntry | null> {
    const m = await this.#client.getMessage(this.stream, id);
    if (!m || m.subject !== deadLetterSubject(this.#prefix, consumer, 'entry')) return null;
    return toEntry(m);
  }

  /** Like {@link get}, but a missing entry is a user error naming the fix. */
  async require(consumer: string, id: number): Promise<DeadLetterEntry> {
    const e = await this.get(consumer, id);
    if (!e) {
      throw new ConsumerError(ConsumerErrorCodes.notFound, `consumer ${consumer} has no dead letter ${id}.`, {
        hint: `"sluice dlq list ${consumer}" shows the open ones.`,
      });
    }
    return e;
  }

  /** Asks the running consumer to handle an entry again. Deduplicated per entry within the stream's duplicate window. */
  async requestRedrive(consumer: string, id: number, now = Date.now()): Promise<void> {
    const req: RedriveRequest = { entry: id, requestedAt: new Date(now).toISOString() };
    await this.#client.publish(deadLetterSubject(this.#prefix, consumer, 'redrive'), JSON.stringify(req), {
      msgID: `redrive:${consumer}:${id}`,
    });
  }

  /** Records that an entry was handled after a redrive and removes it from the open ones. */
  async resolveRedriven(e: DeadLetterEntry, now = Date.now()): Promise<void> {
    await this.#client.publish(
      deadLetterSubject(this.#prefix, e.consumer, 'redriven'),
      JSON.stringify({
        entry: e.id,
        stream: e.stream,
        sequence: e.sequence,
        key: e.key,
        redrivenAt: new Date(now).toISOString(),
      }),
      { msgID: `redriven:${e.consumer}:${e.id}` },
    );
    await this.#client.deleteMessage(this.stream, e.id);
  }

  /** Discards an entry, keeping a record of what was dropped and when. */
  async drop(e: DeadLetterEntry, now = Date.now()): Promise<void> {
    await this.#client.publish(
      deadLetterSubject(this.#prefix, e.consumer, 'dropped'),
      JSON.stringify({ ...e, droppedAt: new Date(now).toISOString() }),
      { msgID: `dropped:${e.consumer}:${e.id}` },
    );
    await this.#client.deleteMessage(this.stream, e.id);
  }

  /** Records of dropped entries, oldest first. */
  async dropped(consumer: string): Promise<(DeadLetterEntry & { droppedAt: string })[]> {
    const msgs = await this.#client.readSubject(
      this.stream,
      deadLetterSubject(this.#prefix, consumer, 'dropped'),
    );
    return msgs.map((m) => JSON.parse(bodyText(m.data)) as DeadLetterEntry & { droppedAt: string });
  }

  /** Records of redriven entries, oldest first. */
  async redriven(
    consumer: string,
  ): Promise<{ entry: number; stream: string; sequence: number; key: string; redrivenAt: string }[]> {
    const msgs = await this.#client.readSubject(
      this.stream,
      deadLetterSubject(this.#prefix, consumer, 'redriven'),
    );
    return msgs.map(
      (m) =>
        JSON.parse(bodyText(m.data)) as {
          entry: number;
          stream: string;
          sequence: number;
          key: string;
          redrivenAt: string;
        },
    );
  }
}

function toEntry(m: StoredMessage): DeadLetterEntry {
  return { ...(JSON.parse(bodyText(m.data)) as DeadLetter), id: m.seq };
}
