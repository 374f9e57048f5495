/**
 * The schema registry in a NATS KV bucket (`<PREFIX>_SCHEMAS`): per table, every column layout it
 * had, with its schemaVersion, the LSN it was first seen at, and its JSON Schema. Consumers read it
 * to validate or generate code; the connector uses it to give `schemaVersion` a durable meaning.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SchemaRegistry } from '../events/tables.js';
import { encodeKvName } from '../../schemas/keys.js';
import { JS_API_TIMEOUT_MS } from './streams.js';

/** One stored schema version of a table. */
export interface StoredSchemaVersion {
  version: number;
  fingerprint: string;
  /** LSN (decimal text) where this layout was first seen. */
  since: string;
  schema: object;
}

export function schemaBucketName(prefix: string): string {
  return `${prefix.toUpperCase().replace(/-/g, '_')}_SCHEMAS`;
}

/** KV key of a table: encoded schema and table names joined by a dot. */
export function schemaKey(table: string): string {
  const i = table.indexOf('.');
  return `${encodeKvName(table.slice(0, i))}.${encodeKvName(table.slice(i + 1))}`;
}

export async function openSchemaBucket(nc: NatsConnection, prefix: string, replicas: number): Promise<KV> {
  const kvm = new Kvm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS }));
  return kvm.create(schemaBucketName(prefix), { history: 1, replicas });
}

export class KvSchemaRegistry implements SchemaRegistry {
  readonly #kv: KV;
  readonly #cache = new Map<string, StoredSchemaVersion[]>();

  constructor(kv: KV) {
    this.#kv = kv;
  }

  /**
   * The version of this layout: the newest stored version with the same fingerprint first seen at
   * or before `lsn` (a replay after a restart finds the version it had), else a new version.
   */
  async resolve(table: string, fingerprint: string, schema: object, lsn: bigint): Promise<number> {
    const key = schemaKey(table);
    for (;;) {
      const entry = await this.#kv.get(key);
      const versions: StoredSchemaVersion[] =
        entry && entry.length ? (entry.json() as StoredSchemaVersion[]) : [];
      const last = versions[versions.length - 1];
      // The version in effect at this position: a replay after a restart meets each layout at
      // the position it was first seen, and gets the number it had.
      const at = lsn === 0n ? undefined : versions.findLast((v) => BigInt(v.since) <= lsn);
      if (at && at.fingerprint === fingerprint) return at.version;
      // Before the first recorded position (a replay reaching further back): the first layout.
      if (!at && lsn !== 0n && versions[0]?.fingerprint === fingerprint) return versions[0].version;
      // The current layout (the snapshotter asks without a position).
      if (last && last.fingerprint === fingerprint && (lsn === 0n || BigInt(last.since) <= lsn))
        return last.version;
      // A layout different from the one in effect — also one seen long ago (a column added, then
      // dropped) — gets a new, higher number: schemaVersion only rises.
      const next: StoredSchemaVersion = {
        version: (last?.version ?? 0) + 1,
        fingerprint,
        since: lsn.toString(),
        schema,
      };
      const value = JSON.stringify([...versions, next]);
      try {
        if (entry && entry.length) await this.#kv.update(key, value, entry.revision);
        else await this.#kv.create(key, value);
        this.#cache.set(key, [...versions, next]);
        return next.version;
      } catch {
        // Someone else wrote first (another run): read again.
      }
    }
  }
}

/** Every table's schema versions (for `sluice schemas` and consumers). */
export async function listSchemas(kv: KV): Promise<Map<string, StoredSchemaVersion[]>> {
  const out = new Map<string, StoredSchemaVersion[]>();
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e && e.length) out.set(key, e.json() as StoredSchemaVersion[]);
  }
  return out;
}
