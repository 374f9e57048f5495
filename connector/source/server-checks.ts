/**
 * Whether the source server can run Sluice at all: its version, wal_level and the role's right to
 * replicate, each problem stopping the connector with one sentence naming the fix.
 */
import type { SqlClient } from './sql-connection.js';
import { ErrorCodes, SluiceError } from '../errors.js';

/** Facts about the server that decide whether Sluice can run. */
export interface ServerFacts {
  versionNum: number;
  version: string;
  walLevel: string;
  maxReplicationSlots: number;
  maxWalSenders: number;
  usedSlots: number;
  isSuperuser: boolean;
  canReplicate: boolean;
  canCreateInDb: boolean;
  user: string;
  database: string;
}

export async function serverFacts(c: SqlClient): Promise<ServerFacts> {
  const r = await c.query(`
    SELECT current_setting('server_version_num')::int AS version_num,
           current_setting('server_version') AS version,
           current_setting('wal_level') AS wal_level,
           current_setting('max_replication_slots')::int AS max_slots,
           current_setting('max_wal_senders')::int AS max_senders,
           (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
           r.rolsuper AS superuser, r.rolreplication AS replication,
           has_database_privilege(current_database(), 'CREATE') AS can_create,
           current_user AS usr, current_database() AS db
      FROM pg_roles r WHERE r.rolname = current_user`);
  const row = r.rows[0];
  return {
    versionNum: Number(row.version_num),
    version: row.version,
    walLevel: row.wal_level,
    maxReplicationSlots: Number(row.max_slots),
    maxWalSenders: Number(row.max_senders),
    usedSlots: Number(row.used_slots),
    isSuperuser: row.superuser === 't' || row.superuser === true,
    canReplicate: row.replication === 't' || row.replication === true,
    canCreateInDb: row.can_create === 't' || row.can_create === true,
    user: row.usr,
    database: row.db,
  };
}

/** Throws the first problem that stops Sluice from running, as one sentence with the fix. */
export function checkServer(f: ServerFacts): void {
  if (f.versionNum < 140000) {
    throw new SluiceError(
      ErrorCodes.pgVersion,
      `PostgreSQL ${f.version} is too old: Sluice needs 14 or newer.`,
      {
        hint: 'Upgrade the server (pgoutput logical messages need PostgreSQL 14).',
      },
    );
  }
  if (f.walLevel !== 'logical') {
    throw new SluiceError(ErrorCodes.walLevel, `wal_level is ${f.walLevel}, but Sluice needs logical.`, {
      hint: "Run ALTER SYSTEM SET wal_level = 'logical'; and restart PostgreSQL.",
    });
  }
  if (!f.isSuperuser && !f.canReplicate) {
    throw new SluiceError(ErrorCodes.privileges, `role ${f.user} may not use logical replication.`, {
      hint: `Run ALTER ROLE ${f.user} WITH REPLICATION; (as a superuser).`,
    });
  }
}
