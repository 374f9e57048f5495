/**
 * What `sluice status` reports: the slot (confirmed position, lag in bytes, active or not), each
 * stream's message count and last sequence, and snapshot progress.
 */
import type { Config } from './config.js';
import { connectSql } from './source/sql-connection.js';
import { slotInfo, type SlotInfo } from './source/slot.js';
import { manager, streamSize } from './sink/streams.js';
import type { NatsClient } from './nats-connection.js';
import { streamNames } from '../schemas/subjects.js';
import { listSnapshots, openSnapshotBucket, type SnapshotState } from './sink/snapshot-store.js';
import { readLeader, type LeaseValue } from './ha/leader-lease.js';

/**
 * The warning for a slot whose retained WAL passed `retainedWalWarnBytes` (0 = never), or null.
 * One sentence with the cause and the fix, shared by the daemon's log, `doctor` and `status`.
 */
export function retainedWalWarning(slot: SlotInfo | null, warnBytes: number): string | null {
  const retained = slot?.retainedBytes ?? null;
  if (!slot || warnBytes <= 0 || retained === null || retained <= warnBytes) return null;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
  return (
    `replication slot ${slot.name} retains ${mib(retained)} of WAL (over retainedWalWarnBytes, ${mib(warnBytes)}): ` +
    (slot.active
      ? 'the connector is behind or stuck; check its logs and sluice_replication_lag_seconds.'
      : 'no connector is streaming from it; start "sluice run", or drop the slot with "sluice teardown" if the source is retired.')
  );
}

export interface StatusReport {
  source: string;
  slot: SlotInfo | null;
  /** Problems worth a warning (retained WAL over the threshold). */
  warnings: string[];
  streams: { name: string; messages: number; bytes: number; lastSeq: number; subjects: number }[];
  snapshots: (SnapshotState & { etaSec: number | null })[];
  /** With `ha: on`: the replica holding the leader lease (`host:pid:id`), or null. */
  leader: LeaseValue | null;
}

export async function collectStatus(cfg: Config, nc: NatsClient): Promise<StatusReport> {
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
      streams.push({ name, ...(await streamSize(jsm, name)) });
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
  const warnings = [retainedWalWarning(slot, cfg.retainedWalWarnBytes)].filter(
    (w): w is string => w !== null,
  );
  const lease = cfg.ha === 'on' ? await readLeader(nc, cfg.prefix, cfg.slot) : null;
  const leader = lease ? { holder: lease.holder, since: lease.since } : null;
  return { source: cfg.source!, slot, warnings, streams, snapshots, leader };
}
