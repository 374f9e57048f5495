/**
 * Events larger than the server's max_payload (claim check). The whole event body is stored in a
 * NATS object store `<PREFIX>_LARGE` under its event id (deterministic, so a replay overwrites the
 * same object), and a reference event is published in its place: the same envelope and metadata,
 * `row` null / `changes` empty, and `data.dataref = { store, name, bytes }`. Nothing is dropped and
 * nothing is retried forever; consumers fetch the body with `fetchLargeEvent` (consumers/).
 *
 * Objects are not expired: a fact may reference one for as long as the row lives. `sluice teardown
 * --streams` removes the bucket.
 */
import { Objm, type ObjectStore } from '@nats-io/obj';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LargeEventSink } from '../ports.js';
import { dataRefOf } from '../../schemas/events.js';
import { prefixedName } from '../../schemas/subjects.js';
import { JS_API_TIMEOUT_MS } from './streams.js';

export function largeBucketName(prefix: string): string {
  return prefixedName(prefix, 'LARGE');
}

const ENC = new TextEncoder();
const DEC = new TextDecoder();

export class LargeEventStore implements LargeEventSink {
  readonly maxPayload: number;
  readonly store: string;
  readonly #os: ObjectStore;

  private constructor(os: ObjectStore, store: string, maxPayload: number) {
    this.#os = os;
    this.store = store;
    this.maxPayload = maxPayload;
  }

  static async open(nc: NatsConnection, prefix: string, replicas: number): Promise<LargeEventStore> {
    const name = largeBucketName(prefix);
    const os = await new Objm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS })).create(name, { replicas });
    return new LargeEventStore(os, name, nc.info?.max_payload ?? 1024 * 1024);
  }

  async put(name: string, body: string): Promise<void> {
    await this.#os.putBlob({ name }, ENC.encode(body));
  }

  async get(name: string): Promise<string | null> {
    const b = await this.#os.getBlob(name);
    return b ? DEC.decode(b) : null;
  }

  /** The full text of an event: the stored body when it is a reference event, else itself. */
  async resolve(text: string): Promise<string> {
    const ref = dataRefOf(text);
    if (!ref) return text;
    const body = await this.get(ref.name);
    if (body === null) throw new Error(`large event ${ref.name} is missing from ${this.store}`);
    return body;
  }
}
