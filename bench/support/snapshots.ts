/** Snapshot progress as the connector records it in its KV bucket (`CDC_SNAPSHOTS`). */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  listSnapshots,
  openSnapshotBucket,
  snapshotKey,
  type SnapshotState,
} from '../../connector/sink/snapshot-store.js';
import { pollUntil } from './bench-env.js';
import { PREFIX } from './streams.js';

/** Reads of the progress bucket through one KV handle (opened once: a poll is then one request). */
export interface SnapshotProgress {
  /** One table's state, or null before it was requested. */
  get(table: string): Promise<SnapshotState | null>;
  all(): Promise<SnapshotState[]>;
  /** Waits until every requested table's snapshot is done; the states, or null on timeout. */
  waitAllDone(timeoutMs: number): Promise<SnapshotState[] | null>;
}

export async function snapshotProgress(nc: NatsConnection): Promise<SnapshotProgress> {
  const kv = await openSnapshotBucket(nc, PREFIX, 1);
  return {
    async get(table) {
      const e = await kv.get(snapshotKey(table));
      return e && e.length ? (e.json() as SnapshotState) : null;
    },
    all: () => listSnapshots(kv),
    waitAllDone: (timeoutMs) =>
      pollUntil(
        async () => {
          const states = await listSnapshots(kv);
          return states.length > 0 && states.every((s) => s.status === 'done') ? states : undefined;
        },
        timeoutMs,
        200,
      ),
  };
}
