/**
 * Which tables are captured: the configured tables Sluice's role may capture, reconciled into the
 * publications at setup, and again periodically while a session runs, so tables created (or given
 * a primary key) while Sluice runs join the publications and are snapshotted — their rows from
 * before they joined would otherwise never become facts.
 */
import type { SqlClient } from './source/sql-connection.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { listTables, type TableRow } from './source/table-list.js';
import {
  planPublications,
  publishedTables,
  reconcilePublications,
  type PublicationPlan,
} from './source/publications.js';

export class CapturedTables {
  readonly #cfg: Config;
  readonly #log: Logger;
  readonly #warnedNotOwned = new Set<string>();

  constructor(cfg: Config, log: Logger) {
    this.#cfg = cfg;
    this.#log = log;
  }

  /**
   * At setup: puts the capturable ones of `all` (the configured tables) into the publications,
   * warning once per table left out and per table captured without identity.
   */
  async reconcile(
    sql: SqlClient,
    all: TableRow[],
    superuser: boolean,
  ): Promise<{ plan: PublicationPlan; added: TableRow[] }> {
    const plan = planPublications(
      this.#capturable(all, superuser, await publishedTables(sql, this.#cfg.publication)),
    );
    for (const t of plan.insertOnly) {
      this.#log.warn(
        { table: `${t.schema}.${t.table}` },
        `table ${t.schema}.${t.table} has no primary key or replica identity: Sluice streams its inserts as deltas only (no facts), and never makes its updates or deletes fail. Add a primary key to capture it fully.`,
      );
    }
    const { added } = await reconcilePublications(sql, this.#cfg.publication, plan, notOwned(all, superuser));
    return { plan, added };
  }

  /**
   * While a session runs: tables created (or given a primary key) since join the publications;
   * `snapshot` is handed the tables added.
   */
  async refresh(
    sql: SqlClient,
    superuser: boolean,
    snapshot: (added: TableRow[]) => Promise<void>,
  ): Promise<void> {
    const all = await listTables(sql, this.#cfg.tables);
    const plan = planPublications(
      this.#capturable(all, superuser, await publishedTables(sql, this.#cfg.publication)),
    );
    const { added } = await reconcilePublications(sql, this.#cfg.publication, plan, notOwned(all, superuser));
    if (added.length) {
      this.#log.info(
        { tables: added.map((t) => `${t.schema}.${t.table}`) },
        'tables added to the publication',
      );
      await snapshot(added);
    }
  }

  /**
   * Only a table's owner (or a superuser) may add it to a publication: other tables are left out,
   * with one warning each, instead of stopping the connector — unless their owner already added
   * them to the publication (`published`), which is how a role that owns no table is set up.
   */
  #capturable(tables: TableRow[], superuser: boolean, published: ReadonlySet<string>): TableRow[] {
    if (superuser) return tables;
    const capturable = (t: TableRow) => t.owned || published.has(`${t.schema}.${t.table}`);
    for (const t of tables) {
      const name = `${t.schema}.${t.table}`;
      if (capturable(t) || this.#warnedNotOwned.has(name)) continue;
      this.#warnedNotOwned.add(name);
      this.#log.warn(
        { table: name },
        `table ${name} is not owned by Sluice's role, so it cannot join the publication and is not captured. Run Sluice as its owner, have its owner add it to publication ${this.#cfg.publication} (docs/security.md), or limit SLUICE_TABLES.`,
      );
    }
    return tables.filter(capturable);
  }
}

/** Tables Sluice's role may not alter: left in the publications if their owner put them there. */
export function notOwned(tables: TableRow[], superuser: boolean): Set<string> {
  return new Set(superuser ? [] : tables.filter((t) => !t.owned).map((t) => `${t.schema}.${t.table}`));
}
