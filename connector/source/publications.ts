/**
 * The publications: which tables pgoutput sends, and which operations of each.
 *
 * A `FOR ALL TABLES` publication makes UPDATE and DELETE fail on tables without a
 * replica identity — it would break the application Sluice is bolted onto. Sluice instead keeps
 * two publications with explicit table lists, reconciled on start and periodically:
 *   `<publication>`      tables with a usable identity, all operations;
 *   `<publication>_ins`  tables without one, `publish = 'insert'` only (inserts never need one).
 * Both use `publish_via_partition_root = true`, so partitions are published as their root table.
 */
import type { SqlClient } from './sql-connection.js';
import { explainPrivilege, qualified, quoteIdent } from './sql.js';
import { hasUsableIdentity, type TableRow } from './table-list.js';

/** Members of a publication as "schema.table". */
async function publicationTables(c: SqlClient, pub: string): Promise<Set<string> | null> {
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
export async function publishedTables(c: SqlClient, publication: string): Promise<Set<string>> {
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
  c: SqlClient,
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
