/**
 * Where snapshots are requested and their progress kept: the NATS KV bucket `<PREFIX>_SNAPSHOTS`,
 * one key per table (`t.<schema>.<table>`) holding its SnapshotState (ports.ts), plus `initialized`
 * once the first run recorded its initial requests. `sluice snapshot`, `sluice status`, verify and
 * the snapshotter (through the SnapshotProgress port) all read and write it here.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeKvName } from '../../schemas/keys.js';
import { prefixedName } from '../../schemas/subjects.js';
import type { SnapshotProgress, SnapshotState } from '../ports.js';
import { JS_API_TIMEOUT_MS } from './streams.js';

export type { SnapshotState };

export function snapshotBucketName(prefix: string): string {
  return prefixedName(prefix, 'SNAPSHOTS');
}

export function snapshotKey(table: string): string {
  const i = table.indexOf('.');
  return `t.${encodeKvName(table.slice(0, i))}.${encodeKvName(table.slice(i + 1))}`;
}

export async function openSnapshotBucket(nc: NatsConnection, prefix: string, replicas: number): Promise<KV> {
  return new Kvm(jetstream(nc, { timeout: JS_API_TIMEOUT_MS })).create(snapshotBucketName(prefix), {
    history: 1,
    replicas,
  });
}

/** Marks tables for (re-)snapshot. Used by `sluice snapshot` and the NATS request handler. */
export async function requestSnapshot(kv: KV, tables: string[]): Promise<void> {
  for (const table of tables) {
    const state: SnapshotState = {
      table,
      status: 'pending',
      lastKey: null,
      rowsDone: 0,
      rowsTotal: 0,
      requestedAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      rate: 0,
    };
    await kv.put(snapshotKey(table), JSON.stringify(state));
  }
}

/** Every table's snapshot state. */
export async function listSnapshots(kv: KV): Promise<SnapshotState[]> {
  const out: SnapshotState[] = [];
  for await (const key of await kv.keys('t.>')) {
    const e = await kv.get(key);
    if (e && e.length) out.push(e.json() as SnapshotState);
  }
  return out.sort((a, b) => a.table.localeCompare(b.table));
}

/** The snapshotter's SnapshotProgress over the bucket. */
export class KvSnapshotProgress implements SnapshotProgress {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens (creating when missing) the bucket of a prefix. */
  static async open(nc: NatsConnection, prefix: string, replicas: number): Promise<KvSnapshotProgress> {
    return new KvSnapshotProgress(await openSnapshotBucket(nc, prefix, replicas));
  }

  list(): Promise<SnapshotState[]> {
    return listSnapshots(this.#kv);
  }

  async save(state: SnapshotState): Promise<void> {
    await this.#kv.put(snapshotKey(state.table), JSON.stringify(state));
  }

  request(tables: string[]): Promise<void> {
    return requestSnapshot(this.#kv, tables);
  }

  async initialized(): Promise<boolean> {
    const e = await this.#kv.get('initialized');
    return e !== null && e.length > 0;
  }

  async markInitialized(): Promise<void> {
    await this.#kv.put('initialized', new Date().toISOString());
  }
}
