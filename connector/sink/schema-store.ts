/**
 * The schema registry in a NATS KV bucket (`<PREFIX>_SCHEMAS`): the connector's writer. The format,
 * the version rule and the reader live in schemas/registry.ts; this file only opens the bucket and
 * stores what `resolveVersion` decides, with compare-and-set (another run may write at once).
 */
import { Kvm, type KV } from '@nats-io/kv';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SchemaRegistry } from '../ports.js';
import {
  parseHistory,
  resolveVersion,
  schemaBucketName,
  schemaKey,
  SchemaRegistryReader,
  type Resolution,
  type StoredSchemaVersion,
  type TableShape,
} from '../../schemas/registry.js';
import type { Position } from '../../schemas/versions.js';
import { isNotFound, JS_API_TIMEOUT_MS } from './streams.js';

export { schemaBucketName, schemaKey, type StoredSchemaVersion };

export async function openSchemaBucket(nc: NatsConnection, prefix: string, replicas: number): Promise<KV> {
  const kvm = new Kvm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS }));
  return kvm.create(schemaBucketName(prefix), { history: 1, replicas });
}

/** Opens the bucket for reading; null when it does not exist (no connector ran yet). */
export async function openSchemaReader(
  nc: NatsConnection,
  prefix: string,
): Promise<SchemaRegistryReader | null> {
  // Kvm.open binds without asking the server, so the bucket's stream is looked up first.
  const jsm = await jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS });
  try {
    await jsm.streams.info(`KV_${schemaBucketName(prefix)}`);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
  const kvm = new Kvm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS }));
  return new SchemaRegistryReader(await kvm.open(schemaBucketName(prefix)));
}

export class KvSchemaRegistry implements SchemaRegistry {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async resolve(shape: TableShape, at: Position | null): Promise<Resolution> {
    const key = schemaKey(shape.table);
    for (let attempt = 0; ; attempt++) {
      const entry = await this.#kv.get(key);
      const history = entry && entry.length ? parseHistory(key, entry.string()) : [];
      const r = resolveVersion(history, shape, at);
      if (!r.write) return r;
      try {
        const value = JSON.stringify(r.write);
        if (entry && entry.length) await this.#kv.update(key, value, entry.revision);
        else await this.#kv.create(key, value);
        return r;
      } catch (e) {
        // Someone else wrote first (another run, the snapshotter): read again.
        if (attempt >= 20) throw e;
      }
    }
  }
}
