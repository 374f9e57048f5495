/**
 * Where the connector stands, for `sluice verify`: the configured slot's confirmed position
 * (pg_replication_slots.confirmed_flush_lsn) and whether a connector streams from it (active).
 * The connector confirms a position only once every event up to it is acknowledged by JetStream,
 * facts included, so "confirmed ≥ L" means the facts stream holds every change committed up to L.
 */
import type { SqlClient } from '../source/sql-connection.js';
import { slotInfo } from '../source/slot.js';
import { parseLsn } from '../../schemas/versions.js';
import { sleep } from '../lifecycle.js';

export interface SlotState {
  readonly exists: boolean;
  /** A walsender streams from the slot (a connector runs). */
  readonly active: boolean;
  readonly confirmed: bigint | null;
}

export async function slotState(sql: SqlClient, slot: string): Promise<SlotState> {
  const s = await slotInfo(sql, slot);
  if (!s) return { exists: false, active: false, confirmed: null };
  return {
    exists: true,
    active: s.active,
    confirmed: s.confirmedFlushLsn === null ? null : parseLsn(s.confirmedFlushLsn),
  };
}

/** Why a wait ended: the slot passed the position, nobody streams any more, or time ran out. */
export type WaitResult = 'passed' | 'inactive' | 'timeout';

/** Milliseconds between looks at the slot while waiting. */
const POLL_MS = 200;

/** Waits until the slot's confirmed position is at or past `lsn`, it turns inactive, or `deadline` (epoch ms). */
export async function waitConfirmed(
  sql: SqlClient,
  slot: string,
  lsn: bigint,
  deadline: number,
  signal?: AbortSignal,
): Promise<WaitResult> {
  for (;;) {
    const s = await slotState(sql, slot);
    if (s.confirmed !== null && s.confirmed >= lsn) return 'passed';
    if (!s.active) return 'inactive';
    if (Date.now() >= deadline || signal?.aborted) return 'timeout';
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())), signal);
  }
}
