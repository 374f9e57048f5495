/**
 * The claim check for events larger than one NATS message (the server's max_payload): a decorator
 * around the sink. A change whose delta and fact fit goes straight to the sink; an event too large
 * is stored whole in the large-event store (sink/large-events.ts, `<P>_LARGE`) under its id, and a
 * reference event — the same envelope and metadata, the bulky members emptied, `data.dataref`
 * naming the stored body — is published in its place, in order. Nothing is dropped and nothing is
 * retried forever; consumers fetch the body with `fetchLargeEvent` (consumers/).
 */
import type { ChangeSink, LargeEventSink, OutMessage, TxTicket } from '../ports.js';
import { objectFragments } from '../json-fragments.js';

/** Bytes kept free for subject, headers and protocol overhead. */
const MESSAGE_OVERHEAD = 1024;

/** What a reference event of a change empties: the row and the changes. */
export const CHANGE_EMPTIED: Readonly<Record<string, string>> = { row: 'null', changes: '{}' };
/** What a reference event of a domain event or dead letter empties: its payload or message. */
export const DOMAIN_EMPTIED: Readonly<Record<string, string>> = { payload: 'null', message: 'null' };

/** Whether a body fits in one NATS message of at most `max` bytes. */
export function fitsInMessage(body: string, max: number): boolean {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most bodies are decided without counting.
  if (body.length * 3 + MESSAGE_OVERHEAD <= max) return true;
  return Buffer.byteLength(body) + MESSAGE_OVERHEAD <= max;
}

/**
 * The reference event that replaces an oversized one: the same envelope and data with the members
 * named in `emptied` replaced by their empty value, plus `dataref` naming where the whole event is
 * stored. Fragments, not JSON.parse: the members kept keep every digit.
 */
export function referenceBody(
  body: string,
  store: string,
  name: string,
  emptied: Readonly<Record<string, string>> = CHANGE_EMPTIED,
): string {
  const dataStart = body.lastIndexOf(',"data":{');
  const head = body.slice(0, dataStart + ',"data":'.length);
  const members = objectFragments(body.slice(dataStart + ',"data":'.length, -1));
  let data = '{';
  let first = true;
  for (const [k, v] of members) {
    const value = Object.hasOwn(emptied, k) ? emptied[k]! : v;
    data += (first ? '' : ',') + JSON.stringify(k) + ':' + value;
    first = false;
  }
  const bytes = Buffer.byteLength(body);
  data += `,"dataref":{"store":${JSON.stringify(store)},"name":${JSON.stringify(name)},"bytes":${bytes}}}`;
  return head + data + '}';
}

/**
 * The sink behind a claim check, for changes: `publishChange` returns a promise only when a body had
 * to be stored first. (Domain events, on shared streams, use the same helpers: domain-events.ts.)
 */
export class ClaimCheckSink {
  readonly #sink: ChangeSink;
  readonly #large: LargeEventSink | undefined;
  readonly #max: number;
  readonly #onStored: () => void;

  /** `onStored` is called for each event stored whole (metrics). */
  constructor(sink: ChangeSink, large: LargeEventSink | undefined, onStored: () => void = () => undefined) {
    this.#sink = sink;
    this.#large = large;
    this.#max = large?.maxPayload ?? Infinity;
    this.#onStored = onStored;
  }

  /** `ChangeSink.publishChange`, with oversized events stored first and replaced by references. */
  publishChange(
    tx: TxTicket,
    delta: OutMessage | null,
    fact: OutMessage | null,
    onFactAck: ((seq: number) => void) | null = null,
  ): void | Promise<void> {
    const max = this.#max;
    if ((!delta || fitsInMessage(delta.body, max)) && (!fact || fitsInMessage(fact.body, max))) {
      this.#sink.publishChange(tx, delta, fact, onFactAck);
      return;
    }
    if (!this.#large) throw new Error('event larger than max_payload and no large-event store');
    return (async () => {
      const d = await this.#swap(delta, CHANGE_EMPTIED);
      const f = await this.#swap(fact, CHANGE_EMPTIED);
      this.#sink.publishChange(tx, d, f, onFactAck);
    })();
  }

  async #swap<M extends OutMessage | null>(m: M, emptied: Readonly<Record<string, string>>): Promise<M> {
    if (!m || fitsInMessage(m.body, this.#max)) return m;
    const large = this.#large!;
    await large.put(m.id, m.body);
    this.#onStored();
    return { ...m, body: referenceBody(m.body, large.store, m.id, emptied) };
  }
}
