/**
 * Everything the connector needs from the source database before streaming: checks with a
 * one-sentence explanation and fix (server version, wal_level, privileges, slot in use), the
 * publications, the replication slot, and the catalog lookups the event builder uses.
 *
 * Publications. A `FOR ALL TABLES` publication makes UPDATE and DELETE fail on tables without a
 * replica identity — it would break the application Sluice is bolted onto. Sluice instead keeps
 * two publications with explicit table lists, reconciled on start and periodically:
 *   `<publication>`      tables with a usable identity, all operations;
 *   `<publication>_ins`  tables without one, `publish = 'insert'` only (inserts never need one).
 * Both use `publish_via_partition_root = true`, so partitions are published as their root table.
 */
import pg from 'pg';
import { ErrorCodes, SluiceError } from '../errors.js';
import { SESSION_OPTIONS } from './replication-stream.js';
import { explainPgError, sourceClientConfig } from './pg-connect.js';
import { loadTypes, type PgType } from './type-catalog.js';
import { RAW_TEXT_TYPES, readRawRows } from './row-reader.js';
import type { Catalog, RowSource } from '../ports.js';

/** Opens a normal (non-replication) connection with the session settings the type mapping needs. */
export async function connectSql(url: string, applicationName = 'sluice'): Promise<pg.Client> {
  const client = new pg.Client(
    sourceClientConfig(url, {
      application_name: applicationName,
      options: SESSION_OPTIONS,
      // Values are read as PostgreSQL's text: the lossless mapping works on text, never on pg's parsers.
      types: RAW_TEXT_TYPES,
    }),
  );
  client.on('error', () => {
    /* surfaced by the next query */
  });
  try {
    await client.connect();
  } catch (e) {
    throw explainPgError(e, url);
  }
  return client;
}

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

export async function serverFacts(c: pg.Client): Promise<ServerFacts> {
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

/** A table Sluice may capture. */
export interface TableRow {
  oid: number;
  schema: string;
  table: string;
  /** pg_class.relreplident: d default, n nothing, f full, i index */
  replident: string;
  hasPrimaryKey: boolean;
  hasIdentityIndex: boolean;
  partitioned: boolean;
  owned: boolean;
}

/** Whether updates and deletes of the table can be published without failing. */
export function hasUsableIdentity(t: TableRow): boolean {
  return (
    t.replident === 'f' ||
    (t.replident === 'd' && t.hasPrimaryKey) ||
    (t.replident === 'i' && t.hasIdentityIndex)
  );
}

/** User tables (ordinary and partitioned roots; not partitions) matching the patterns. */
export async function listTables(c: pg.Client, patterns: readonly string[]): Promise<TableRow[]> {
  const r = await c.query(`
    SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS tbl, c.relreplident AS replident,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS has_ri,
           c.relkind = 'p' AS partitioned,
           pg_has_role(c.relowner, 'USAGE') AS owned
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
       AND n.nspname NOT LIKE 'pg_temp%'
     ORDER BY 2, 3`);
  const matchers = patterns.map(globToRegExp);
  const bool = (v: unknown) => v === true || v === 't';
  return r.rows
    .map((row) => ({
      oid: Number(row.oid),
      schema: row.schema as string,
      table: row.tbl as string,
      replident: row.replident as string,
      hasPrimaryKey: bool(row.has_pk),
      hasIdentityIndex: bool(row.has_ri),
      partitioned: bool(row.partitioned),
      owned: bool(row.owned),
    }))
    .filter((t) => matchers.some((m) => m.test(`${t.schema}.${t.table}`)));
}

function globToRegExp(pattern: string): RegExp {
  const esc = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*');
  return new RegExp(`^${esc}$`);
}

export function quoteIdent(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}

function qualified(t: { schema: string; table: string }): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
}

/** Members of a publication as "schema.table". */
async function publicationTables(c: pg.Client, pub: string): Promise<Set<string> | null> {
  const exists = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub]);
  if (exists.rowCount === 0) return null;
  const r = await c.query(
    `SELECT n.nspname AS schema, c.relname AS tbl FROM pg_publication_rel pr
       JOIN pg_publication p ON p.oid = pr.prpubid JOIN pg_class c ON c.oid = pr.prrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1`,
    [pub],
  );
  return new Set(r.rows.map((x) => `${x.schema}.${x.tbl}`));
}

/**
 * "schema.table" of every table already in either publication of `publication`: a table its owner
 * added is captured even when Sluice's role does not own it (the least-privilege setup of
 * docs/security.md).
 */
export async function publishedTables(c: pg.Client, publication: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const name of publicationNames(publication))
    for (const t of (await publicationTables(c, name)) ?? []) out.add(t);
  return out;
}

export interface PublicationPlan {
  full: TableRow[];
  insertOnly: TableRow[];
}

export function planPublications(tables: TableRow[]): PublicationPlan {
  return { full: tables.filter(hasUsableIdentity), insertOnly: tables.filter((t) => !hasUsableIdentity(t)) };
}

/** Names of the two publications. */
export function publicationNames(publication: string): [full: string, insertOnly: string] {
  return [publication, `${publication}_ins`];
}

/**
 * Creates missing publications and brings their table lists in line with the plan. Returns the
 * tables newly added (they need a snapshot). Never drops a publication.
 */
export async function reconcilePublications(
  c: pg.Client,
  publication: string,
  plan: PublicationPlan,
  /** "schema.table" names never removed (tables Sluice may not alter, added by their owner). */
  untouchable: ReadonlySet<string> = new Set(),
): Promise<{ added: TableRow[]; created: boolean }> {
  const [fullName, insName] = publicationNames(publication);
  const added: TableRow[] = [];
  let created = false;
  for (const [name, want, publish] of [
    [fullName, plan.full, 'insert, update, delete, truncate'],
    [insName, plan.insertOnly, 'insert'],
  ] as const) {
    let have = await publicationTables(c, name);
    if (have === null) {
      try {
        await c.query(
          `CREATE PUBLICATION ${quoteIdent(name)} WITH (publish = '${publish}', publish_via_partition_root = true)`,
        );
      } catch (e) {
        throw explainPrivilege(e, `create publication ${name}`);
      }
      created = true;
      have = new Set();
    }
    const wantNames = new Set(want.map((t) => `${t.schema}.${t.table}`));
    const toAdd = want.filter((t) => !have!.has(`${t.schema}.${t.table}`));
    const toDrop = [...have].filter((n) => !wantNames.has(n) && !untouchable.has(n));
    for (const t of toAdd) {
      try {
        await c.query(`ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${qualified(t)}`);
      } catch (e) {
        throw explainPrivilege(e, `add ${t.schema}.${t.table} to publication ${name}`);
      }
      if (name === fullName) added.push(t);
    }
    for (const n of toDrop) {
      const [schema, table] = splitName(n);
      await c.query(`ALTER PUBLICATION ${quoteIdent(name)} DROP TABLE ${qualified({ schema, table })}`);
    }
  }
  return { added, created };
}

function splitName(n: string): [string, string] {
  const i = n.indexOf('.');
  return [n.slice(0, i), n.slice(i + 1)];
}

function explainPrivilege(e: unknown, what: string): Error {
  const err = e as { code?: string; message?: string };
  if (err.code === '42501') {
    return new SluiceError(ErrorCodes.privileges, `Sluice may not ${what}: ${err.message}.`, {
      hint: 'Publications need CREATE on the database and ownership of the tables: run Sluice as the tables’ owner or a superuser, or create the publications yourself.',
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(String(e));
}

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

export async function slotInfo(c: pg.Client, slot: string): Promise<SlotInfo | null> {
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
  c: pg.Client,
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

/**
 * A table's columns in attnum order, each with whether it belongs to the primary key or the
 * replica-identity index (either can key the events): what the column policy is checked against.
 */
export async function tableColumns(
  c: pg.Client,
  relationId: number,
): Promise<{ name: string; identity: boolean }[]> {
  const r = await c.query(
    `SELECT a.attname,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND a.attnum = ANY(i.indkey)
                      AND (i.indisprimary OR i.indisreplident)) AS ident
       FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relationId],
  );
  return (r.rows as { attname: string; ident: unknown }[]).map((x) => ({
    name: x.attname,
    identity: x.ident === true || x.ident === 't',
  }));
}

/** The Catalog the event builder uses, over a SQL connection. */
export function pgCatalog(c: pg.Client): Catalog {
  const types = new Map<number, PgType>();
  return {
    async loadTypes(oids: number[]) {
      const missing = oids.filter((o) => !types.has(o));
      if (missing.length) for (const [oid, t] of await loadTypes(c, missing)) types.set(oid, t);
      return new Map(oids.map((o) => [o, types.get(o)!] as const).filter(([, t]) => t !== undefined));
    },
    async describe(relationId: number) {
      const r = await c.query(
        `SELECT a.attname, a.attnotnull, a.attnum, a.atthasdef, a.atttypid::int8 AS typ, a.attgenerated <> '' AS generated,
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND a.attnum = ANY(i.indkey)
                          AND i.indisprimary) AS in_pk,
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND a.attnum = ANY(i.indkey)
                          AND i.indisreplident) AS in_ri
           FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [relationId],
      );
      const bool = (v: unknown) => v === true || v === 't';
      const rows = r.rows as {
        attname: string;
        attnotnull: unknown;
        attnum: unknown;
        atthasdef: unknown;
        typ: unknown;
        generated: unknown;
        in_pk: unknown;
        in_ri: unknown;
      }[];
      const hasPk = rows.some((x) => bool(x.in_pk));
      const identity = rows.filter((x) => (hasPk ? bool(x.in_pk) : bool(x.in_ri))).map((x) => x.attname); // column order, like the key flags of a Relation message
      return {
        identity,
        notNull: new Set(rows.filter((x) => bool(x.attnotnull)).map((x) => x.attname)),
        // What pgoutput publishes (no generated columns), in attnum order like a Relation message.
        attributes: rows
          .filter((x) => !bool(x.generated))
          .map((x) => ({ name: x.attname, attnum: Number(x.attnum), typeOid: Number(x.typ) })),
        defaults: new Set(rows.filter((x) => bool(x.atthasdef)).map((x) => x.attname)),
      };
    },
  };
}

/**
 * Current column values of one row, by key, as JSON fragments (see RowSource in
 * change-processor.ts), read as the output functions' text like a streamed row (readRawRows). Key
 * values arrive as JSON fragments and are bound as text, cast to each key column's type, so the
 * primary-key index serves the lookup.
 */
export function pgRowSource(c: pg.Client): RowSource {
  const types = new Map<number, Map<string, string>>();
  return {
    async readColumns(t, key, columns) {
      let colTypes = types.get(t.relationId);
      if (!colTypes) {
        const r = await c.query(
          `SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute
            WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`,
          [t.relationId],
        );
        colTypes = new Map(r.rows.map((x) => [x.attname as string, x.t as string]));
        types.set(t.relationId, colTypes);
      }
      const where = t.keyIdx
        .map(
          (i, k) =>
            `t.${quoteIdent(t.columns[i]!.name)} = $${k + 1}::${colTypes!.get(t.columns[i]!.name) ?? 'text'}`,
        )
        .join(' AND ');
      const select = columns.map((i) => `t.${quoteIdent(t.columns[i]!.name)}`).join(', ');
      const params = key.map((f) => {
        const v = JSON.parse(f) as unknown;
        return typeof v === 'string' ? v : JSON.stringify(v);
      });
      const [row] = await readRawRows(
        c,
        `SELECT ${select} FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)} t WHERE ${where}`,
        params,
      );
      if (!row) return null;
      return new Map(
        columns.map((i, k) => [i, row[k] === null ? 'null' : t.columns[i]!.mapper(row[k]!)] as const),
      );
    },
  };
}
