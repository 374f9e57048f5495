/**
 * `sluice verify`: proves the facts stream equals the tables. For each captured table:
 *
 *   1. table → facts: rows in key order, in chunks; the latest fact of each row's subject by
 *      pipelined direct gets; each row compared with its fact, column by column, through the
 *      connector's own type mapping (compare.ts);
 *   2. facts → table: the table's fact subjects listed in batches (last message per subject); the
 *      keys of live facts looked up in the table in batches; a live fact without a row is missing
 *      in the table.
 *
 * A difference is not reported at once while a connector streams from the slot: it is re-checked
 * (recheck.ts) once the slot's confirmed position has passed the WAL position at which the row was
 * read, so changes in flight are not reported. With no connector streaming (slot inactive or
 * missing) nothing can change in the facts stream, and differences are reported at once. The wait
 * is bounded (`recheckTimeoutMs`); a difference still open then is reported as `timeout`.
 *
 * Memory is bounded by the chunk size: rows, facts and open differences are held per chunk (open
 * differences are settled whenever a chunk's worth has collected), never per table.
 */
import type { Config } from '../config.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { NatsClient } from '../nats-connection.js';
import { connectSql, type SqlClient } from '../source/sql-connection.js';
import { listTables, type TableRow } from '../source/table-list.js';
import { listSnapshots, openSnapshotBucket, type SnapshotState } from '../sink/snapshot-store.js';
import { formatLsn } from '../../schemas/versions.js';
import { compareRow, factIdentity, type ColumnDifference, type FactState, type Verdict } from './compare.js';
import { FactSource, type ListedFact } from './fact-source.js';
import { recheck, type RecheckState } from './recheck.js';
import { slotState, waitConfirmed, type SlotState } from './slot-watch.js';
import { ColumnPolicy } from '../events/column-policy.js';
import { describeTable, keyInputText, readByKeys, readChunk, type VerifyTable } from './table-reader.js';

export interface VerifyOptions {
  /** Tables as `schema.table`; empty: every table the source captures (setting `tables`). */
  readonly tables: readonly string[];
  /** Rows per table chunk, facts per listing batch, open differences per re-check. Default 1000. */
  readonly chunkSize: number;
  /** Milliseconds a re-check waits for the connector to pass a read position. Default 60000. */
  readonly recheckTimeoutMs: number;
  /** Differences kept per table in the report (all are counted and passed to onDifference). Default 100. */
  readonly maxDetails: number;
  /** Each difference as soon as it is final. */
  readonly onDifference?: (d: Difference) => void;
  /** A line about what verify is doing or waiting for. */
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

export const VERIFY_DEFAULTS = { chunkSize: 1000, recheckTimeoutMs: 60_000, maxDetails: 100 } as const;

/**
 * How a difference was established: `confirmed` by a re-check after the connector passed the read
 * position; `not-streaming` reported at once (no connector streams from the slot); `timeout` the
 * re-check's wait ran out (the connector is behind, or the row keeps changing).
 */
export type CheckKind = 'confirmed' | 'not-streaming' | 'timeout';

/** One row or fact that differs. Values and key values are JSON texts. */
export interface Difference {
  readonly table: string;
  readonly kind: Exclude<Verdict['kind'], 'match'>;
  readonly subject: string;
  /** Key columns → JSON text. */
  readonly key: ReadonlyMap<string, string>;
  /** The differing columns (kind `different`). */
  readonly columns: readonly ColumnDifference[];
  /** Version of the fact compared with, null when there was none. */
  readonly factVersion: string | null;
  readonly check: CheckKind;
}

export interface TableReport {
  readonly table: string;
  /** Why the table was not checked (no identity, not captured), or null. */
  readonly skipped: string | null;
  /** The table's snapshot status, when a snapshot was ever requested. */
  readonly snapshot: SnapshotState['status'] | null;
  /** Table rows compared with their facts. */
  rowsChecked: number;
  /** Rows equal to their fact (after re-checks). */
  matching: number;
  missingInFacts: number;
  missingInTable: number;
  different: number;
  /** Live facts whose row was looked up. */
  factsChecked: number;
  /** Differences that went away on re-check (changes in flight). */
  resolvedOnRecheck: number;
  /** The first `maxDetails` differences. */
  readonly differences: Difference[];
}

export interface VerifyReport {
  readonly source: string;
  readonly slot: SlotState & { readonly name: string };
  readonly tables: TableReport[];
  /** No difference in any table. */
  readonly clean: boolean;
}

/** A difference being re-checked. */
interface Open extends RecheckState {
  readonly subject: string;
  readonly token: string;
  readonly key: ReadonlyMap<string, string>;
  /** Identity in text form for reading the row again; null when it cannot be looked up. */
  readonly keyText: readonly string[] | null;
  /** Found from the table side (counted in rowsChecked). */
  readonly fromTable: boolean;
  /** The row was read before `factBeforeRead`'s fact was fetched: read it again first. */
  stale: boolean;
  verdict: Exclude<Verdict, { kind: 'match' }>;
  fact: FactState | null;
}

export async function verify(cfg: Config, nc: NatsClient, opts: VerifyOptions): Promise<VerifyReport> {
  const facts = await FactSource.open(nc, cfg);
  let sql: SqlClient;
  try {
    sql = await connectSql(cfg.databaseUrl, 'sluice-verify');
  } catch (e) {
    facts.close();
    throw e;
  }
  try {
    const tables = await selectTables(sql, cfg, opts.tables);
    const snapshots = await snapshotStates(nc, cfg);
    const run = new VerifyRun(sql, facts, cfg, opts);
    const reports: TableReport[] = [];
    for (const sel of tables) {
      if (opts.signal?.aborted) break;
      reports.push(await run.table(sel, snapshots.get(`${sel.row.schema}.${sel.row.table}`) ?? null));
    }
    const slot = await slotState(sql, cfg.slot);
    const clean = reports.every((r) => r.missingInFacts + r.missingInTable + r.different === 0);
    return { source: cfg.source!, slot: { name: cfg.slot, ...slot }, tables: reports, clean };
  } finally {
    facts.close();
    await sql.end().catch(() => undefined);
  }
}

interface Selected {
  row: TableRow;
  /** Reason it is not checked, or null. */
  skip: string | null;
}

/** The tables to verify: those named (each must exist), else every captured table. */
async function selectTables(sql: SqlClient, cfg: Config, names: readonly string[]): Promise<Selected[]> {
  const captured = await listTables(sql, cfg.tables);
  if (names.length === 0) return captured.map((row) => ({ row, skip: null }));
  const all = await listTables(sql, ['*.*']);
  return names.map((name) => {
    const full = name.includes('.') ? name : `public.${name}`;
    const row = all.find((t) => `${t.schema}.${t.table}` === full);
    if (!row) {
      throw new SluiceError(ErrorCodes.config, `table ${full} does not exist (or is a partition).`, {
        hint: 'Name tables as schema.table; for a partitioned table name its root, whose facts hold every partition.',
      });
    }
    const isCaptured = captured.some((t) => t.oid === row.oid);
    return { row, skip: isCaptured ? null : 'not captured by this source (setting tables): it has no facts' };
  });
}

async function snapshotStates(nc: NatsClient, cfg: Config): Promise<Map<string, SnapshotState>> {
  const kv = await openSnapshotBucket(nc, cfg.prefix, cfg.streams.replicas);
  return new Map((await listSnapshots(kv)).map((s) => [s.table, s] as const));
}

class VerifyRun {
  readonly #sql: SqlClient;
  readonly #facts: FactSource;
  readonly #cfg: Config;
  /** The connector's column policy: rows are masked as the facts are before they are compared. */
  readonly #columns: ColumnPolicy;
  readonly #o: VerifyOptions;
  /** Set once a re-check ran out of time: later differences are reported without waiting again. */
  #waitExhausted = false;

  constructor(sql: SqlClient, facts: FactSource, cfg: Config, opts: VerifyOptions) {
    this.#sql = sql;
    this.#facts = facts;
    this.#cfg = cfg;
    this.#columns = new ColumnPolicy(cfg.columns, cfg.maskSalt);
    this.#o = opts;
  }

  async table(sel: Selected, snapshot: SnapshotState | null): Promise<TableReport> {
    const name = `${sel.row.schema}.${sel.row.table}`;
    const report: TableReport = {
      table: name,
      skipped: sel.skip,
      snapshot: snapshot?.status ?? null,
      rowsChecked: 0,
      matching: 0,
      missingInFacts: 0,
      missingInTable: 0,
      different: 0,
      factsChecked: 0,
      resolvedOnRecheck: 0,
      differences: [],
    };
    if (sel.skip) return report;
    // The connector's own rule decides whether rows get facts (describeRelation's identity).
    const t = await describeTable(this.#sql, this.#cfg.prefix, sel.row, this.#columns);
    if (!t) {
      return {
        ...report,
        skipped: 'no primary key or replica identity index: its changes are deltas only, it has no facts',
      };
    }
    const truncatedAt = await this.#facts.truncatedAt(t.info.factPrefix);
    let open: Open[] = [];
    const settleIfFull = async () => {
      if (open.length >= this.#o.chunkSize) {
        await this.#settle(t, report, open);
        open = [];
      }
    };

    // 1. Table → facts, in key order.
    let after: readonly string[] | null = null;
    for (;;) {
      if (this.#o.signal?.aborted) return report;
      const { rows, lsn } = await readChunk(this.#sql, t, after, this.#o.chunkSize);
      if (rows.length === 0) break;
      const got = await this.#facts.latest(rows.map((r) => t.info.factPrefix + r.token));
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        const fact = got[i] ?? null;
        report.rowsChecked++;
        const verdict = compareRow(r.values, fact, truncatedAt);
        if (verdict.kind === 'match') {
          report.matching++;
          continue;
        }
        open.push({
          subject: t.info.factPrefix + r.token,
          token: r.token,
          key: r.key,
          keyText: r.keyText,
          fromTable: true,
          row: r.values,
          readLsn: lsn,
          // The fact was fetched after the row was read: the row is read again before judging.
          factBeforeRead: factIdentity(fact, truncatedAt),
          stale: true,
          verdict,
          fact,
        });
      }
      after = rows[rows.length - 1]!.keyText;
      await settleIfFull();
      if (rows.length < this.#o.chunkSize) break;
    }

    // 2. Facts → table: live facts whose row does not exist.
    await this.#facts.list(t.info.factPrefix, this.#o.chunkSize, async (batch: ListedFact[]) => {
      const live = batch.filter(
        (f) => !f.fact.deleted && (truncatedAt === null || f.fact.version > truncatedAt),
      );
      const lookups = live.map((f) => ({ f, keyText: keyTextOf(t, f.fact.key) }));
      const { rows, lsn } = await readByKeys(
        this.#sql,
        t,
        lookups.flatMap((l) => (l.keyText ? [l.keyText] : [])),
      );
      const found = new Set(rows.map((r) => r.token));
      for (const { f, keyText } of lookups) {
        report.factsChecked++;
        if (found.has(f.token)) continue;
        open.push({
          subject: f.subject,
          token: f.token,
          key: f.fact.key ?? new Map(),
          keyText,
          fromTable: false,
          row: null,
          readLsn: lsn,
          // The listing delivered the fact before the row was looked up.
          factBeforeRead: factIdentity(f.fact, truncatedAt),
          stale: false,
          verdict: { kind: 'missing-in-table' },
          fact: f.fact,
        });
      }
      await settleIfFull();
    });
    await this.#settle(t, report, open);
    return report;
  }

  /** Re-checks open differences (see recheck.ts) and reports those that persist. */
  async #settle(t: VerifyTable, report: TableReport, open: Open[]): Promise<void> {
    if (open.length === 0) return;
    const slot = await slotState(this.#sql, this.#cfg.slot);
    if (!slot.active) {
      for (const o of open) this.#final(report, o, o.verdict, 'not-streaming');
      return;
    }
    if (this.#waitExhausted) {
      for (const o of open) this.#final(report, o, o.verdict, 'timeout');
      return;
    }
    const deadline = Date.now() + this.#o.recheckTimeoutMs;
    let pending = open;
    await this.#reread(
      t,
      pending.filter((o) => o.stale),
    );
    while (pending.length > 0) {
      const target = pending.reduce((m, o) => (o.readLsn > m ? o.readLsn : m), 0n);
      this.#o.onProgress?.(
        `${report.table}: re-checking ${pending.length} difference(s) once the connector has passed ${formatLsn(target)}`,
      );
      const waited = await waitConfirmed(this.#sql, this.#cfg.slot, target, deadline, this.#o.signal);
      const truncatedAt = await this.#facts.truncatedAt(t.info.factPrefix);
      const got = await this.#facts.latest(pending.map((o) => o.subject));
      const next: Open[] = [];
      for (let i = 0; i < pending.length; i++) {
        const o = pending[i]!;
        const fact = got[i] ?? null;
        o.fact = fact;
        if (waited !== 'passed') {
          // Nobody streams any more, or time is up: judge with what the stream holds now.
          const verdict = compareRow(o.row, fact, truncatedAt);
          if (verdict.kind === 'match') this.#resolved(report, o);
          else this.#final(report, o, verdict, waited === 'inactive' ? 'not-streaming' : 'timeout');
          continue;
        }
        const d = recheck(o, fact, truncatedAt);
        if (d.kind === 'resolved') this.#resolved(report, o);
        else if (d.kind === 'real') this.#final(report, o, d.verdict, 'confirmed');
        else {
          o.factBeforeRead = d.factIdentity;
          next.push(o);
        }
      }
      if (waited === 'timeout') this.#waitExhausted = true;
      pending = next;
      await this.#reread(t, pending);
    }
  }

  /** Reads the rows of open differences again, after their facts were fetched. */
  async #reread(t: VerifyTable, open: Open[]): Promise<void> {
    if (open.length === 0) return;
    const { rows, lsn } = await readByKeys(
      this.#sql,
      t,
      open.flatMap((o) => (o.keyText ? [o.keyText] : [])),
    );
    const byToken = new Map(rows.map((r) => [r.token, r] as const));
    for (const o of open) {
      o.row = byToken.get(o.token)?.values ?? null;
      o.readLsn = lsn;
      o.stale = false;
    }
  }

  #resolved(report: TableReport, o: Open): void {
    report.resolvedOnRecheck++;
    if (o.fromTable) report.matching++;
  }

  #final(report: TableReport, o: Open, verdict: Exclude<Verdict, { kind: 'match' }>, check: CheckKind): void {
    if (verdict.kind === 'missing-in-facts') report.missingInFacts++;
    else if (verdict.kind === 'missing-in-table') report.missingInTable++;
    else report.different++;
    const d: Difference = {
      table: report.table,
      kind: verdict.kind,
      subject: o.subject,
      key: o.key,
      columns: verdict.kind === 'different' ? verdict.columns : [],
      factVersion: o.fact?.version ?? null,
      check,
    };
    if (report.differences.length < this.#o.maxDetails) report.differences.push(d);
    this.#o.onDifference?.(d);
  }
}

/** A fact's key (JSON texts by column) in PostgreSQL's input text form; null when incomplete. */
function keyTextOf(t: VerifyTable, key: ReadonlyMap<string, string> | null): string[] | null {
  if (!key) return null;
  const out: string[] = [];
  for (const k of t.keyColumns) {
    const json = key.get(k.name);
    const text = json === undefined ? null : keyInputText(json, k.type);
    if (text === null) return null;
    out.push(text);
  }
  return out;
}
