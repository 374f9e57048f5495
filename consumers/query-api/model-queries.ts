/**
 * The SQL of the query API's reads, built from a model's catalog description: a row by key, and a
 * page of rows with equality filters, an order and a keyset cursor. Pure: text and parameters only.
 * Every statement also returns the model's position (`greatest(lsn, heartbeat_lsn)` of its
 * bookkeeping row) from the same snapshot as the rows, so a row and its ETag always agree.
 */
import { quoteIdent, rowJsonExpression, type ModelColumn } from './json-columns.js';
import type { CursorValues } from './cursor.js';

/** A model as the API serves it. */
export interface ServedModel {
  readonly name: string;
  /** Schema of the model tables (`read_models`). */
  readonly schema: string;
  readonly key: readonly string[];
  readonly columns: readonly ModelColumn[];
}

export interface SqlStatement {
  readonly text: string;
  readonly params: unknown[];
}

/** Schema and table of the bookkeeping rows (written by the read-model daemon). */
const POSITIONS = '"_sluice".positions';

function column(m: ServedModel, name: string): ModelColumn {
  const c = m.columns.find((x) => x.name === name);
  if (!c) throw new Error(`model ${m.name} has no column ${name}`);
  return c;
}

function table(m: ServedModel): string {
  return `${quoteIdent(m.schema)}.${quoteIdent(m.name)}`;
}

/** `$n::type` for parameter n, cast with the column's own input function. */
function param(params: unknown[], value: string, c: ModelColumn): string {
  params.push(value);
  return `$${params.length}::${c.sqlType}`;
}

function positionCte(params: unknown[], m: ServedModel): string {
  params.push(m.name);
  return `WITH p AS (SELECT (SELECT greatest(lsn, heartbeat_lsn)::text FROM ${POSITIONS} WHERE name = $${params.length}) AS pos)`;
}

/** Columns: `pos` (text or null), then `j` (the row's JSON text, null when none). */
export function rowByKeySql(m: ServedModel, keyValues: readonly string[]): SqlStatement {
  const params: unknown[] = [];
  const cte = positionCte(params, m);
  const where = m.key.map((k, i) => `r.${quoteIdent(k)} = ${param(params, keyValues[i]!, column(m, k))}`);
  return {
    text: `${cte} SELECT p.pos, x.j FROM p LEFT JOIN LATERAL (SELECT ${rowJsonExpression(m.columns, 'r')} AS j FROM ${table(m)} r WHERE ${where.join(' AND ')}) x ON true`,
    params,
  };
}

export interface ListRequest {
  /** Equality filters, column → value as text (the column type's input form). */
  readonly filters: readonly (readonly [string, string])[];
  /** Order column (null: by the key), and whether descending. */
  readonly order: { readonly column: string; readonly desc: boolean } | null;
  readonly limit: number;
  /** The values after which the page starts (from the cursor), null for the first page. */
  readonly after: CursorValues | null;
}

/** The columns a page is ordered by: the order column (if not a key column), then the key. */
export function orderColumns(m: ServedModel, order: ListRequest['order']): string[] {
  return order && !m.key.includes(order.column) ? [order.column, ...m.key] : [...m.key];
}

/**
 * Columns: `pos`, then per row `j` and `c0…cn` (the order columns as text, for the next cursor).
 * One row with `j` null when the page is empty. Asks for `limit + 1` rows: the extra one says
 * whether there is a next page.
 */
export function listSql(m: ServedModel, req: ListRequest): SqlStatement {
  const params: unknown[] = [];
  const cte = positionCte(params, m);
  const cols = orderColumns(m, req.order);
  // A key column never is NULL; a separate order column may be (NULLs sort last).
  const lead = cols.length > m.key.length ? cols[0]! : null;
  const desc = req.order?.desc ?? false;
  const cmp = desc ? '<' : '>';
  const dir = desc ? 'DESC' : 'ASC';
  const where = req.filters.map(([c, v]) => `r.${quoteIdent(c)} = ${param(params, v, column(m, c))}`);
  if (req.after) {
    const keyVals = req.after.slice(lead ? 1 : 0);
    const keyCmp = `(${m.key.map((k) => `r.${quoteIdent(k)}`).join(', ')}) ${cmp} (${m.key
      .map((k, i) => param(params, keyVals[i] ?? '', column(m, k)))
      .join(', ')})`;
    if (!lead) where.push(keyCmp);
    else {
      const l = `r.${quoteIdent(lead)}`;
      const v = req.after[0];
      where.push(
        v === null || v === undefined
          ? `(${l} IS NULL AND ${keyCmp})`
          : `(${l} ${cmp} ${param(params, v, column(m, lead))} OR ${l} IS NULL OR (${l} = $${params.length}::${column(m, lead).sqlType} AND ${keyCmp}))`,
      );
    }
  }
  const orderBy = cols.map((c) => `r.${quoteIdent(c)} ${dir}${c === lead ? ' NULLS LAST' : ''}`);
  params.push(req.limit + 1);
  const limit = `$${params.length}`;
  const cursorCols = cols.map((c, i) => `r.${quoteIdent(c)}::text AS c${i}`);
  return {
    text: `${cte} SELECT p.pos, x.* FROM p LEFT JOIN LATERAL (SELECT ${rowJsonExpression(m.columns, 'r')} AS j, ${cursorCols.join(', ')} FROM ${table(m)} r${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy.join(', ')} LIMIT ${limit}) x ON true`,
    params,
  };
}
