/**
 * `sluice doctor`: checks the source database and NATS and prints, for each problem, what to fix.
 * Exit code 0 when Sluice can run, 1 otherwise.
 */
import { connectToNats } from '../../connections/nats-connect.js';
import { redactUrl } from '../../connections/redact.js';
import { describeError, natsConnectError } from '../../connector/errors.js';
import { checkServer, serverFacts } from '../../connector/source/server-checks.js';
import { connectSql } from '../../connector/source/sql-connection.js';
import { hasUsableIdentity, listTables, tableColumns } from '../../connector/source/table-list.js';
import { publishedTables } from '../../connector/source/publications.js';
import { slotInfo } from '../../connector/source/slot.js';
import { checkColumnPolicy, ColumnPolicy } from '../../connector/events/column-policy.js';
import { manager } from '../../connector/sink/streams.js';
import { retainedWalWarning } from '../../connector/status.js';
import { checkPrivileges } from '../../connector/source/privileges.js';
import { configFrom, parseOptions, print } from './common.js';

interface Check {
  ok: boolean | 'warn';
  what: string;
  fix?: string;
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { json: { type: 'boolean' } });
  const cfg = configFrom(values);
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);

  // PostgreSQL
  let sql;
  try {
    sql = await connectSql(cfg.databaseUrl, 'sluice-doctor');
    add({ ok: true, what: `connected to PostgreSQL at ${redactUrl(cfg.databaseUrl)}` });
  } catch (e) {
    add({ ok: false, what: describeError(e) });
  }
  let widestRow = 0;
  if (sql) {
    try {
      const f = await serverFacts(sql);
      add({
        ok: f.versionNum >= 140000,
        what: `PostgreSQL ${f.version}`,
        fix: 'Sluice needs PostgreSQL 14 or newer.',
      });
      add({
        ok: f.walLevel === 'logical',
        what: `wal_level = ${f.walLevel}`,
        fix: "ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL.",
      });
      const slot = await slotInfo(sql, cfg.slot);
      const free = f.maxReplicationSlots - f.usedSlots;
      add({
        ok: slot !== null || free > 0,
        what: `replication slots: ${f.usedSlots} of ${f.maxReplicationSlots} used${slot ? `, "${cfg.slot}" exists (${slot.active ? 'active' : 'inactive'}, lag ${slot.lagBytes ?? 0} bytes)` : ''}`,
        fix: 'Raise max_replication_slots (restart needed) or drop an unused slot.',
      });
      const walWarning = retainedWalWarning(slot, cfg.retainedWalWarnBytes);
      add({
        ok: walWarning ? 'warn' : true,
        what: slot
          ? `WAL retained by "${cfg.slot}": ${slot.retainedBytes ?? 0} bytes (warning above ${cfg.retainedWalWarnBytes})`
          : `WAL retained by "${cfg.slot}": none (no slot yet)`,
        ...(walWarning ? { fix: walWarning } : {}),
      });
      add({
        ok: f.maxWalSenders > 0,
        what: `max_wal_senders = ${f.maxWalSenders}`,
        fix: 'Set max_wal_senders ≥ 1.',
      });
      try {
        checkServer(f);
      } catch {
        /* already reported above */
      }
      const tables = await listTables(sql, cfg.tables);
      add({
        ok: tables.length > 0 ? true : 'warn',
        what: `${tables.length} tables match ${cfg.tables.join(', ')}`,
      });
      // REPLICATION, SELECT on the captured tables, the publications' owner or CREATE (docs/security.md).
      for (const p of await checkPrivileges(sql, cfg.publication, tables)) add(p);
      const published = await publishedTables(sql, cfg.publication);
      for (const t of tables) {
        const name = `${t.schema}.${t.table}`;
        if (!hasUsableIdentity(t)) {
          add({
            ok: 'warn',
            what: `${name}: no primary key or replica identity — inserts become deltas only, no facts; updates/deletes are not captured (and never fail)`,
            fix: `ALTER TABLE ${name} ADD PRIMARY KEY (...); or ALTER TABLE ${name} REPLICA IDENTITY FULL;`,
          });
        } else if (!t.owned && !f.isSuperuser && !published.has(name)) {
          add({
            ok: 'warn',
            what: `${name}: not owned by ${f.user}, so Sluice cannot add it to its publication`,
            fix: `Run Sluice as the table owner, or ALTER PUBLICATION ${cfg.publication} ADD TABLE ${name}; as the owner.`,
          });
        } else {
          const ri =
            { d: 'default (primary key)', f: 'full', i: 'index', n: 'nothing' }[t.replident] ?? t.replident;
          add({ ok: true, what: `${name}: replica identity ${ri}` });
        }
      }
      // The column policy, checked exactly as `sluice run` checks it at start.
      const policy = new ColumnPolicy(cfg.columns, cfg.maskSalt);
      if (policy.tables().length) {
        const conn = sql;
        try {
          await checkColumnPolicy(
            policy,
            new Map(tables.map((t) => [`${t.schema}.${t.table}`, t.oid] as const)),
            (oid) => tableColumns(conn, oid),
          );
          add({ ok: true, what: `column policy: ${policy.tables().join(', ')} (see docs/masking.md)` });
        } catch (e) {
          add({ ok: false, what: describeError(e) });
        }
      }
      // pg_stats (readable by any role, for the tables it may read): average row width.
      const wide = await sql.query(
        `SELECT sum(avg_width)::int AS avg_width FROM pg_stats
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
          GROUP BY schemaname, tablename ORDER BY 1 DESC LIMIT 1`,
      );
      widestRow = Number(wide.rows[0]?.avg_width ?? 0);
    } catch (e) {
      add({ ok: false, what: describeError(e) });
    } finally {
      await sql.end().catch(() => undefined);
    }
  }

  // NATS
  try {
    // The same connection settings (TLS, credentials) as `sluice run`, without reconnecting.
    const nc = await connectToNats(cfg, { name: 'sluice-doctor', daemon: false, timeoutMs: 5000 });
    add({ ok: true, what: `connected to NATS at ${redactUrl(cfg.natsUrl)} (server ${nc.info?.version})` });
    try {
      const jsm = await manager(nc);
      const info = await jsm.getAccountInfo();
      add({ ok: true, what: `JetStream enabled (storage used ${info.storage} bytes)` });
    } catch (e) {
      add({ ok: false, what: describeError(e), fix: 'Start nats-server with -js.' });
    }
    const maxPayload = nc.info?.max_payload ?? 0;
    // An event is roughly twice a row's text (envelope, JSON, deltas carry old and new).
    add({
      ok: widestRow * 3 < maxPayload ? true : 'warn',
      what: `max_payload ${maxPayload} bytes; widest table averages ${widestRow} bytes per row`,
      fix: 'Rows larger than max_payload are stored by reference (see docs/operations.md); raise max_payload if they are common.',
    });
    await nc.close();
  } catch (e) {
    const err = natsConnectError(e);
    add({ ok: false, what: err.message, ...(err.hint ? { fix: err.hint } : {}) });
  }

  if (values.json) {
    print(JSON.stringify(checks, null, 2));
  } else {
    for (const c of checks) {
      const mark = c.ok === true ? 'ok  ' : c.ok === 'warn' ? 'warn' : 'FAIL';
      print(`${mark}  ${c.what}`);
      if (c.ok !== true && c.fix) print(`      fix: ${c.fix}`);
    }
  }
  return checks.some((c) => c.ok === false) ? 1 : 0;
}
