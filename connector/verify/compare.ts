/**
 * The comparison of `sluice verify`: one table row (as the connector would map it now) against the
 * latest fact of its subject. Pure: rows and facts are plain data, values are JSON texts.
 *
 * Values are compared as JSON text, not as parsed values: the contract is one JSON form per row
 * state (DESIGN.md), so `"true"` for a bool, a blank-padding change of a char(n) or a big integer
 * inside jsonb rounded by a JSON.parse round trip are differences, not equal values.
 */
import { fragmentAt, objectFragments } from '../json-fragments.js';

/** A row as the connector would publish it now: column name → JSON text of the value. */
export type RowValues = ReadonlyMap<string, string>;

/** What verify needs of a stored fact. */
export interface FactState {
  /** `data.deleted`. */
  readonly deleted: boolean;
  /** `data.version` (fixed-width hex, compares as a string). */
  readonly version: string;
  /** `data.row` as column → JSON text; null when the fact carries no row (truncate, reference). */
  readonly row: RowValues | null;
  /** `data.key` as column → JSON text; null when absent. */
  readonly key: RowValues | null;
  /** The event is a reference to a body in the object store (`data.dataref`). */
  readonly isReference: boolean;
}

/** One column whose value differs; `table`/`fact` are JSON texts, null where the column is absent. */
export interface ColumnDifference {
  readonly column: string;
  readonly table: string | null;
  readonly fact: string | null;
}

/** The outcome of comparing one row with its fact. */
export type Verdict =
  | { readonly kind: 'match' }
  /** A row without a live fact (no fact, a deleted one, or one below the table's TRUNCATE marker). */
  | { readonly kind: 'missing-in-facts' }
  /** A live fact without a row. */
  | { readonly kind: 'missing-in-table' }
  | { readonly kind: 'different'; readonly columns: readonly ColumnDifference[] };

export type VerdictKind = Verdict['kind'];

/**
 * Parses the stored text of a fact event; `withRow` false leaves `row` null (when only the key,
 * version and deleted flag are needed). Throws a SyntaxError when the text is not a fact
 * (no `data` object or no `version`).
 */
export function parseFact(text: string, withRow = true): FactState {
  const data = fragmentAt(text, ['data']);
  if (data === undefined) throw new SyntaxError('the message has no "data" object');
  const m = objectFragments(data);
  const version = m.get('version');
  if (version === undefined || version.charCodeAt(0) !== 34) {
    throw new SyntaxError('the fact has no "version" string');
  }
  const rowText = m.get('row');
  const keyText = m.get('key');
  return {
    deleted: m.get('deleted') === 'true',
    version: JSON.parse(version) as string,
    row: !withRow || rowText === undefined || rowText === 'null' ? null : objectFragments(rowText),
    key: keyText === undefined || keyText === 'null' ? null : objectFragments(keyText),
    isReference: m.has('dataref'),
  };
}

/**
 * Whether a fact stands for a row: present, not deleted, and not older than the table's TRUNCATE
 * marker (`truncatedAt`, the marker's version), which consumers apply as a delete of every older row.
 */
export function isLive(fact: FactState | null, truncatedAt: string | null): fact is FactState {
  if (fact === null || fact.deleted) return false;
  return truncatedAt === null || fact.version > truncatedAt;
}

/**
 * Compares a row (null: no row with that key) with the latest fact of its subject (null: none).
 * Column differences list the table's columns in order, then columns only the fact has.
 */
export function compareRow(
  row: RowValues | null,
  fact: FactState | null,
  truncatedAt: string | null,
): Verdict {
  const live = isLive(fact, truncatedAt);
  if (row === null) return live ? { kind: 'missing-in-table' } : { kind: 'match' };
  if (!live) return { kind: 'missing-in-facts' };
  const factRow = fact.row ?? new Map<string, string>();
  const columns: ColumnDifference[] = [];
  for (const [column, value] of row) {
    const f = factRow.get(column);
    if (f !== value) columns.push({ column, table: value, fact: f ?? null });
  }
  for (const [column, value] of factRow) {
    if (!row.has(column)) columns.push({ column, table: null, fact: value });
  }
  return columns.length === 0 ? { kind: 'match' } : { kind: 'different', columns };
}

/** Identity of a fact for the re-check: the same version (or the same absence) seen twice. */
export function factIdentity(fact: FactState | null, truncatedAt: string | null): string {
  return `${fact === null ? '-' : fact.version}|${truncatedAt ?? '-'}`;
}
