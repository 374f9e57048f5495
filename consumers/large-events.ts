/**
 * Reading events that were too large for one NATS message: the published event is a reference
 * (`data.dataref`), and the whole event is in a NATS object store (see docs/operations.md).
 */
import { Objm } from '@nats-io/obj';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { dataRefOf } from '../schemas/events.js';

const DEC = new TextDecoder();

/** The full event of a message body: fetched from the object store for a reference, else as is. */
export async function fetchLargeEvent(nc: NatsConnection, body: string): Promise<string> {
  const ref = dataRefOf(body);
  if (!ref) return body;
  const os = await new Objm(jetstream(nc)).open(ref.store);
  const b = await os.getBlob(ref.name);
  if (!b) throw new Error(`large event ${ref.name} is missing from object store ${ref.store}`);
  return DEC.decode(b);
}
