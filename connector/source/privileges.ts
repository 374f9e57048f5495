/**
 * The privileges Sluice's role needs on the source database, checked for `sluice doctor`: each
 * finding says in one sentence what is missing and why Sluice needs it, with the statement that
 * grants it. The least-privilege role these checks describe is documented in docs/security.md.
 *
 *   REPLICATION                  the replication connection and slot;
 *   SELECT (and USAGE on schema) on every captured table: snapshots, reads of rows never seen,
 *                                `sluice verify`;
 *   each of the two publications owned by the role, or CREATE on the database so Sluice can
 *                                create them (it keeps their table lists current).
 */
import type { SqlClient } from './sql-connection.js';
import { publicationNames } from './publications.js';
import { quoteIdent } from './sql.js';
import type { TableRow } from './table-list.js';

/** One privilege check: `ok` false when Sluice cannot run without it. */
export interface PrivilegeFinding {
  ok: boolean;
  what: string;
  /** The statement(s) to run, as a superuser or the object's owner. */
  fix?: string;
}

const bool = (v: unknown) => v === true || v === 't';

/** Checks the role's privileges for `tables` (the captured ones) and the publications of `publication`. */
export async function checkPrivileges(
  c: SqlClient,
  publication: string,
  tables: readonly TableRow[],
): Promise<PrivilegeFinding[]> {
  const role = await c.query(
    `SELECT current_user AS role, current_database() AS db, r.rolsuper AS superuser, r.rolreplication AS replication,
            has_database_privilege(current_database(), 'CREATE') AS can_create
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const row = role.rows[0]!;
  const user = String(row.role);
  const db = String(row.db);
  const superuser = bool(row.superuser);
  const out: PrivilegeFinding[] = [];
  if (superuser) {
    out.push({
      ok: true,
      what: `role ${user} is a superuser (see docs/security.md for a least-privilege role)`,
    });
    return out;
  }
  out.push(
    bool(row.replication)
      ? { ok: true, what: `role ${user} has REPLICATION` }
      : {
          ok: false,
          what: `role ${user} lacks REPLICATION, which the replication connection and its slot need`,
          fix: `ALTER ROLE ${quoteIdent(user)} WITH REPLICATION;`,
        },
  );

  const canCreate = bool(row.can_create);
  for (const pub of publicationNames(publication)) {
    const r = await c.query(
      `SELECT pg_get_userbyid(pubowner) AS owner, pg_has_role(pubowner, 'USAGE') AS owned
         FROM pg_publication WHERE pubname = $1`,
      [pub],
    );
    const p = r.rows[0];
    if (p && bool(p.owned)) {
      out.push({ ok: true, what: `publication ${pub} is owned by ${user}` });
    } else if (p) {
      out.push({
        ok: false,
        what: `publication ${pub} is owned by ${String(p.owner)}, so ${user} cannot keep its table list current`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} OWNER TO ${quoteIdent(user)};`,
      });
    } else if (canCreate) {
      out.push({
        ok: true,
        what: `publication ${pub} does not exist yet; ${user} may create it (CREATE on ${db})`,
      });
    } else {
      out.push({
        ok: false,
        what: `publication ${pub} does not exist and ${user} may not create it (no CREATE on database ${db})`,
        fix: `GRANT CREATE ON DATABASE ${quoteIdent(db)} TO ${quoteIdent(user)}; — or, as a superuser: CREATE PUBLICATION ${quoteIdent(pub)}; ALTER PUBLICATION ${quoteIdent(pub)} OWNER TO ${quoteIdent(user)};`,
      });
    }
  }

  if (tables.length) {
    const r = await c.query(
      `SELECT c.oid::int8 AS oid, has_schema_privilege(c.relnamespace, 'USAGE') AS usage,
              has_table_privilege(c.oid, 'SELECT') AS sel
         FROM pg_class c WHERE c.oid = ANY($1::oid[])`,
      [tables.map((t) => t.oid)],
    );
    const byOid = new Map(r.rows.map((x) => [Number(x.oid), { usage: bool(x.usage), select: bool(x.sel) }]));
    const noUsage = new Set<string>();
    const noSelect: string[] = [];
    for (const t of tables) {
      const p = byOid.get(t.oid);
      if (!p) continue;
      if (!p.usage) noUsage.add(t.schema);
      if (!p.select || !p.usage) noSelect.push(`${quoteIdent(t.schema)}.${quoteIdent(t.table)}`);
    }
    if (noSelect.length === 0) {
      out.push({ ok: true, what: `role ${user} may SELECT all ${tables.length} captured tables` });
    } else {
      const grants = [
        ...[...noUsage].map((s) => `GRANT USAGE ON SCHEMA ${quoteIdent(s)} TO ${quoteIdent(user)};`),
        `GRANT SELECT ON ${noSelect.join(', ')} TO ${quoteIdent(user)};`,
      ];
      out.push({
        ok: false,
        what: `role ${user} may not SELECT ${noSelect.length} captured table(s) (${noSelect.join(', ')}), which snapshots and sluice verify read`,
        fix: grants.join(' '),
      });
    }
  }
  return out;
}
