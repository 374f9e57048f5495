/**
 * How a model column becomes JSON, decided by its PostgreSQL type: the SQL expression that prints
 * the column's value in the documented lossless mapping (docs/type-mapping.md), and the column's
 * JSON Schema for the OpenAPI description. Pure functions over the type's catalog name.
 */

/** A model table's column as the catalog describes it. */
export interface ModelColumn {
  readonly name: string;
  /** `format_type` of the column (`bigint`, `numeric`, `text[]`, …): what a parameter is cast to. */
  readonly sqlType: string;
  /** `pg_type.typname` of the column's type (`int8`, `_int4`); of the base type for a domain. */
  readonly typname: string;
  /** `pg_type.typname` of the element type for an array, else null. */
  readonly elemTypname: string | null;
}

/** Types whose JSON is the plain `to_json` of the value (numbers, booleans, JSON). */
const JSON_NATIVE = new Set(['bool', 'int2', 'int4', 'oid', 'float4', 'float8', 'json', 'jsonb']);
/** Types printed as their exact text in a JSON string (a double cannot hold them). */
const EXACT_TEXT = new Set(['int8', 'numeric', 'money', 'date']);

/** `"name"` quoted as a PostgreSQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL literal of `text`. */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The SQL expression (json) of column `c` (already qualified and quoted) in the lossless mapping;
 * NULL for SQL NULL. Needs a session with `TimeZone=UTC`, `DateStyle=ISO`, `extra_float_digits=3`,
 * `IntervalStyle=postgres`.
 */
export function jsonExpression(col: ModelColumn, c: string): string {
  const t = col.typname;
  if (col.elemTypname !== null) {
    // Arrays: to_json maps each element like its scalar; elements a double cannot hold (and
    // date/time elements, which to_json would print in its own form) are printed as text.
    return JSON_NATIVE.has(col.elemTypname) || !needsTextElements(col.elemTypname)
      ? `to_json(${c})`
      : `to_json(${c}::text[])`;
  }
  if (JSON_NATIVE.has(t)) return `to_json(${c})`;
  if (EXACT_TEXT.has(t)) return `to_json(${c}::text)`;
  if (t === 'timestamptz')
    return `CASE WHEN ${c} >= '0001-01-01 00:00:00+00' AND ${c} < '10000-01-01 00:00:00+00' THEN to_json(to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) ELSE to_json(${c}::text) END`;
  if (t === 'timestamp')
    return `CASE WHEN ${c} >= '0001-01-01 00:00:00' AND ${c} < '10000-01-01 00:00:00' THEN to_json(to_char(${c}, 'YYYY-MM-DD"T"HH24:MI:SS.US')) ELSE to_json(${c}::text) END`;
  if (t === 'bytea') return `to_json(translate(encode(${c}, 'base64'), E'\\n', ''))`;
  // Everything else: to_json prints the output function's text as a JSON string.
  return `to_json(${c})`;
}

function needsTextElements(elem: string): boolean {
  return EXACT_TEXT.has(elem) || elem === 'timestamptz' || elem === 'timestamp' || elem === 'bytea';
}

/**
 * A SQL expression (text) that builds one JSON object of `columns` from the row alias `r`, in column
 * order. String concatenation rather than json_build_object: no limit on the number of columns.
 */
export function rowJsonExpression(columns: readonly ModelColumn[], r: string): string {
  const parts = columns.map((col, i) => {
    const name = quoteLiteral(`${i ? ',' : '{'}${JSON.stringify(col.name)}:`);
    return `${name} || coalesce((${jsonExpression(col, `${r}.${quoteIdent(col.name)}`)})::text, 'null')`;
  });
  return parts.length ? `(${parts.join(' || ')} || '}')` : `'{}'`;
}

/** JSON Schema (OpenAPI 3.1) of one column's values. */
export function columnJsonSchema(col: ModelColumn, nullable: boolean): Record<string, unknown> {
  const base =
    col.elemTypname !== null
      ? { type: 'array', items: scalarSchema(col.elemTypname) }
      : scalarSchema(col.typname);
  const out: Record<string, unknown> = { ...base, 'x-pg-type': col.sqlType };
  if (nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
  else if (nullable && Array.isArray(out.type)) out.type = [...(out.type as string[]), 'null'];
  return out;
}

function scalarSchema(t: string): Record<string, unknown> {
  switch (t) {
    case 'bool':
      return { type: 'boolean' };
    case 'int2':
    case 'int4':
    case 'oid':
      return { type: 'integer' };
    case 'int8':
      return { type: 'string', pattern: '^-?[0-9]+$' };
    case 'numeric':
      return { type: 'string', description: 'exact decimal as PostgreSQL prints it' };
    case 'float4':
    case 'float8':
      return { type: ['number', 'string'], pattern: '^(NaN|-?Infinity)$' };
    case 'json':
    case 'jsonb':
      return {};
    case 'timestamptz':
    case 'timestamp':
      return { type: 'string', format: 'date-time' };
    case 'date':
      return { type: 'string', format: 'date' };
    case 'uuid':
      return { type: 'string', format: 'uuid' };
    case 'bytea':
      return { type: 'string', contentEncoding: 'base64' };
    default:
      return { type: 'string' };
  }
}
