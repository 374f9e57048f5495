/**
 * Taking the replication slot over from a previous leader. PostgreSQL lets one walsender use a
 * slot at a time (`active_pid` in pg_replication_slots). A leader that died with SIGKILL loses its
 * walsender as soon as the server sees the socket close, but a paused one (SIGSTOP, a frozen VM, a
 * network partition) keeps it until `wal_sender_timeout` (60 s by default). The new leader holds
 * the lease, so the walsender belongs to a process that may no longer stream: it is terminated
 * instead of waited for. `pg_terminate_backend` is allowed for a backend of the same role (or with
 * `pg_signal_backend`); without that right the session ends with one sentence saying so.
 */
import type { SqlClient } from '../source/sql-connection.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sleep } from '../lifecycle.js';

/** Milliseconds to wait for a terminated walsender to release the slot. */
const RELEASE_WAIT_MS = 10_000;

/** Frees the slot from another walsender, if one holds it. Returns the pid terminated, or null. */
export async function takeOverSlot(
  sql: SqlClient,
  slot: string,
  log: Logger,
  signal?: AbortSignal,
): Promise<number | null> {
  const pid = await activePid(sql, slot);
  if (pid === null) return null;
  log.warn(
    { module: 'leader-lease', slot, pid },
    `replication slot ${slot} is still used by walsender ${pid} (a previous leader): terminating it`,
  );
  try {
    await sql.query('SELECT pg_terminate_backend($1)', [pid]);
  } catch (cause) {
    throw notAllowed(slot, pid, cause);
  }
  const until = Date.now() + RELEASE_WAIT_MS;
  for (;;) {
    const now = await activePid(sql, slot);
    if (now === null) return pid;
    if (now !== pid || Date.now() > until || signal?.aborted) {
      throw new SluiceError(
        ErrorCodes.slotInUse,
        `replication slot ${slot} is still used by walsender ${now} after terminating the previous leader's (${pid}).`,
        { hint: 'Check which process uses the slot (pg_stat_replication) and stop it.' },
      );
    }
    await sleep(100, signal);
  }
}

async function activePid(sql: SqlClient, slot: string): Promise<number | null> {
  const r = await sql.query<{ active_pid: number | null }>(
    'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return r.rows[0]?.active_pid ?? null;
}

function notAllowed(slot: string, pid: number, cause: unknown): SluiceError {
  const code = (cause as { code?: string }).code;
  if (code === '42501') {
    return new SluiceError(
      ErrorCodes.privileges,
      `replication slot ${slot} is held by walsender ${pid} of another role, and Sluice's role may not terminate it.`,
      {
        hint: "Run every replica as the same role, or GRANT pg_signal_backend to Sluice's role.",
        cause,
      },
    );
  }
  return new SluiceError(ErrorCodes.slotInUse, `cannot terminate walsender ${pid} holding slot ${slot}.`, {
    cause,
  });
}
