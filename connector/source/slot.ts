/**
 * The replication slot: its state as pg_replication_slots shows it, and its creation, with a slot
 * that belongs to something else, is in use, or cannot be created explained in one sentence.
 */
import type { SqlClient } from './sql-connection.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import { explainPrivilege } from './sql.js';

/** The replication slot as pg_replication_slots shows it. */
export interface SlotInfo {
  name: string;
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  restartLsn: string | null;
  lagBytes: number | null;
  /** WAL the slot keeps the server from removing: `pg_current_wal_lsn() − restart_lsn`, bytes. */
  retainedBytes: number | null;
}

export async function slotInfo(c: SqlClient, slot: string): Promise<SlotInfo | null> {
  const r = await c.query(
    `SELECT slot_name, plugin, database, active, active_pid, confirmed_flush_lsn::text AS confirmed,
            restart_lsn::text AS restart,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 AS lag,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = r.rows[0];
  if (!row) return null;
  return {
    name: row.slot_name,
    plugin: row.plugin,
    database: row.database,
    active: row.active === true || row.active === 't',
    activePid: row.active_pid === null ? null : Number(row.active_pid),
    confirmedFlushLsn: row.confirmed,
    restartLsn: row.restart,
    lagBytes: row.lag === null ? null : Number(row.lag),
    retainedBytes: row.retained === null ? null : Number(row.retained),
  };
}

/** Creates the slot if missing; explains a slot that belongs to something else or is in use. */
export async function ensureSlot(
  c: SqlClient,
  slot: string,
  database: string,
): Promise<{ created: boolean }> {
  const info = await slotInfo(c, slot);
  if (info) {
    if (info.plugin !== 'pgoutput' || info.database !== database) {
      throw new SluiceError(
        ErrorCodes.slotConflict,
        `replication slot ${slot} exists for ${info.plugin ?? 'physical replication'} on database ${info.database ?? '-'}, not pgoutput on ${database}.`,
        { hint: 'Set SLUICE_SLOT to another name, or drop that slot if it is unused.' },
      );
    }
    if (info.active) {
      throw new SluiceError(
        ErrorCodes.slotInUse,
        `replication slot ${slot} is in use by process ${info.activePid}.`,
        {
          hint: 'Another Sluice (or another consumer) is streaming from it: stop it, or set SLUICE_SLOT to another name.',
        },
      );
    }
    return { created: false };
  }
  try {
    await c.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === '53400') {
      throw new SluiceError(
        ErrorCodes.noFreeSlots,
        `PostgreSQL has no free replication slot: ${err.message}.`,
        {
          hint: 'Raise max_replication_slots (restart needed) or drop an unused slot.',
          cause: e,
        },
      );
    }
    throw explainPrivilege(e, `create replication slot ${slot}`);
  }
  return { created: true };
}
