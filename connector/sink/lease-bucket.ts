/**
 * The KV bucket of leases (`<P>_LEASES`, shared with the consumer runtime's leases) as plain
 * compare-and-set entries: what ha/leader-lease.ts writes and `sluice status` reads.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { kvEntries, type KvEntries } from '../../connections/kv-entries.js';
import { JS_API_TIMEOUT_MS } from './streams.js';

/** A lease bucket's entries, and its max_age in milliseconds (0: entries never age out). */
export interface LeaseBucket extends KvEntries {
  readonly maxAgeMs: number;
}

/** Opens the bucket `name`, created with max_age = `ttlMs` when missing. */
export async function openLeaseBucket(
  nc: NatsConnection,
  name: string,
  ttlMs: number,
  replicas: number,
): Promise<LeaseBucket> {
  const kv = await new Kvm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS })).create(name, {
    ttl: ttlMs,
    history: 1,
    replicas,
  });
  const status = await kv.status();
  return { maxAgeMs: status.ttl, ...kvEntries(kv) };
}

/**
 * The value and revision of `key` in the existing bucket `name`, without creating anything; null
 * when the key holds nothing. Throws when the bucket does not exist.
 */
export async function readLeaseEntry(
  nc: NatsConnection,
  name: string,
  key: string,
): Promise<{ value: string; revision: number } | null> {
  const kv = await new Kvm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS })).open(name);
  return kvEntries(kv).get(key);
}
