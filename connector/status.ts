/**
 * What `sluice status` reports: the slot (confirmed position, lag in bytes, active or not), each
 * stream's message count and last sequence, and snapshot progress.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from './config.js';
import { connectSql, slotInfo, type SlotInfo } from './source/setup.js';
import { manager } from './sink/streams.js';
import { streamNames } from '../schemas/subjects.js';
import { listSnapshots, openSnapshotBucket, type SnapshotState } from './snapshot/snapshotter.js';

export interface StatusReport {
  source: string;
  slot: SlotInfo | null;
  streams: { name: string; messages: number; bytes: number; lastSeq: number; subjects: number }[];
  snapshots: (SnapshotState & { etaSec: number | null })[];
}

export async function collectStatus(cfg: Config, nc: NatsConnection): Promise<StatusReport> {
  const sql = await connectSql(cfg.databaseUrl, 'sluice-status');
  let slot: SlotInfo | null;
  try {
    slot = await slotInfo(sql, cfg.slot);
  } finally {
    await sql.end();
  }
  const jsm = await manager(nc);
  const names = streamNames(cfg.prefix);
  const streams: StatusReport['streams'] = [];
  for (const name of [names.facts, names.deltas]) {
    try {
      const info = await jsm.streams.info(name);
      streams.push({
        name,
        messages: info.state.messages,
        bytes: info.state.bytes,
        lastSeq: info.state.last_seq,
        subjects: info.state.num_subjects ?? 0,
      });
    } catch {
      streams.push({ name, messages: 0, bytes: 0, lastSeq: 0, subjects: 0 });
    }
  }
  const kv = await openSnapshotBucket(nc, cfg.prefix, cfg.streams.replicas);
  const snapshots = (await listSnapshots(kv)).map((s) => ({
    ...s,
    etaSec:
      s.status === 'running' && s.rate > 0
        ? Math.max(0, Math.round((s.rowsTotal - s.rowsDone) / s.rate))
        : null,
  }));
  return { source: cfg.source!, slot, streams, snapshots };
}
