/**
 * Compare-and-set on a NATS KV bucket, as plain data: what the connector's leader lease and the
 * consumer daemons' leases both write through. A refusal (the revision moved on, the key exists)
 * answers null; anything else (a timeout, a lost connection) is thrown.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';

export interface KvEntries {
  /** Creates `key` when it does not exist (or expired); its revision, or null when it exists. */
  create(key: string, value: string): Promise<number | null>;
  /** Replaces `key` if its revision is still `revision`; the new revision, or null when refused. */
  update(key: string, value: string, revision: number): Promise<number | null>;
  /** The current value and revision, or null. */
  get(key: string): Promise<{ value: string; revision: number } | null>;
  /** Deletes `key` if its revision is still `revision`. */
  remove(key: string, revision: number): Promise<void>;
}

/** A compare-and-set refusal: JetStream's "wrong last sequence" codes, never message text. */
function refused(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence ||
      e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

async function orNullWhenRefused(write: () => Promise<number>): Promise<number | null> {
  try {
    return await write();
  } catch (e) {
    if (refused(e)) return null;
    throw e;
  }
}

export function kvEntries(kv: KV): KvEntries {
  return {
    create: (key, value) => orNullWhenRefused(() => kv.create(key, value)),
    update: (key, value, revision) => orNullWhenRefused(() => kv.update(key, value, revision)),
    async get(key) {
      const e = await kv.get(key);
      return e && e.operation === 'PUT' ? { value: e.string(), revision: e.revision } : null;
    },
    async remove(key, revision) {
      await kv.delete(key, { previousSeq: revision }).catch(() => undefined);
    },
  };
}
