/**
 * Lossless PostgreSQL → JSON value mapping (DESIGN.md, "Type mapping (lossless JSON)").
 *
 * Input is a column value as pgoutput sends it in text mode: the type's output function, run in a
 * session with DateStyle=ISO, MDY; TimeZone=UTC; IntervalStyle=postgres; extra_float_digits=3;
 * bytea_output=hex. Output is a serialized JSON fragment, so a value that JavaScript numbers
 * cannot hold (int8, numeric, big integers inside jsonb) is never parsed and never rounded.
 *
 * A mapper is compiled once per column type (`mapperFor`) and called per value: the hot mappers
 * are closures over constants that index characters and slice; none compiles or runs a regex.
 * The JSON Schema of each type (`jsonSchemaFor`) states exactly what its mapper emits.
 */
import { Buffer } from 'node:buffer';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { PgType } from '../source/type-catalog.js';
import type { ValueMapper } from '../ports.js';

/** A JSON Schema (draft 2020-12) fragment as a plain object. */
export type JsonSchema = Record<string, unknown>;

/**
 * Thrown when a value's text is not what the type's output function prints under the connector's
 * session settings: a protocol invariant broke (wrong DateStyle or bytea_output, binary values).
 * Code `PROTOCOL`, like every broken protocol invariant, so the process restarts from its checkpoint.
 */
export class TypeMappingError extends SluiceError {
  /** Qualified PostgreSQL type name, e.g. `pg_catalog.timestamptz`. */
  readonly pgType: string;

  constructor(pgType: string, expected: string, text: string) {
    const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
    super(ErrorCodes.protocol, `cannot map ${pgType} value ${JSON.stringify(shown)}: expected ${expected}.`, {
      hint:
        'The replication session must use DateStyle=ISO, TimeZone=UTC, IntervalStyle=postgres, ' +
        'extra_float_digits=3, bytea_output=hex and text (not binary) pgoutput values.',
    });
    this.name = 'TypeMappingError';
    this.pgType = pgType;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar mappers

/** For output functions that print only ASCII letters, digits and punctuation other than `"` and `\`. */
const quoted: ValueMapper = (text) => '"' + text + '"';

/** For text that may hold anything: JSON.stringify escapes quotes, backslashes and control chars. */
const jsonString: ValueMapper = (text) => JSON.stringify(text);

/** int2/int4/oid print `-?[0-9]+` without leading zeros, which already is a JSON number. */
const verbatim: ValueMapper = (text) => text;

const mapBool: ValueMapper = (text) => {
  if (text === 't') return 'true';
  if (text === 'f') return 'false';
  throw new TypeMappingError('pg_catalog.bool', '"t" or "f"', text);
};

// Character codes, so the hot paths compare numbers instead of allocating one-char strings.
const C_PLUS = 43;
const C_DASH = 45;
const C_DOT = 46;
const C_ZERO = 48;
const C_NINE = 57;
const C_COLON = 58;
const C_SPACE = 32;
const C_QUOTE = 34;
const C_BACKSLASH = 92;
const C_LBRACE = 123;
const C_RBRACE = 125;
const C_LBRACKET = 91;
const C_N = 78;
const C_I = 73;
const C_X = 120;

/**
 * float4/float8 print shortest round-trip decimals (`1e+308`, `-0`, `1.5e-07`), all valid JSON
 * numbers; only NaN and ±Infinity, which JSON cannot express, become strings.
 */
const mapFloat: ValueMapper = (text) => {
  const c = text.charCodeAt(0);
  if (c === C_N || c === C_I || (c === C_DASH && text.charCodeAt(1) === C_I)) return '"' + text + '"';
  return text;
};

const mapBytea: ValueMapper = (text) => {
  // bytea_output=hex prints "\x" and two hex digits per byte.
  if (text.charCodeAt(0) !== C_BACKSLASH || text.charCodeAt(1) !== C_X || (text.length & 1) !== 0) {
    throw new TypeMappingError('pg_catalog.bytea', 'hex format "\\x…" (bytea_output=hex)', text);
  }
  return '"' + Buffer.from(text.slice(2), 'hex').toString('base64') + '"';
};

/** int2vector/oidvector (system catalogs) print space-separated integers, not an array literal. */
const mapVector: ValueMapper = (text) => (text === '' ? '[]' : '[' + text.split(' ').join(',') + ']');

// Timestamps. PostgreSQL trims trailing zeros of the fraction (and the dot when it is zero);
// events always carry 6 digits so that values compare and sort as plain strings.
const FRACTION_PAD = ['000000', '00000', '0000', '000', '00', '0', ''];

/** `YYYY-MM-DD HH:MM:SS` at the start of `t` (4-digit year, i.e. 0001..9999 unless " BC" follows). */
function hasIsoDateTime(t: string): boolean {
  return (
    t.charCodeAt(4) === C_DASH &&
    t.charCodeAt(7) === C_DASH &&
    t.charCodeAt(10) === C_SPACE &&
    t.charCodeAt(13) === C_COLON &&
    t.charCodeAt(16) === C_COLON
  );
}

/** `.ffffff` from the optional fraction in `t[19, end)`, or null when that is not `(.[0-9]{1,6})?`. */
function fraction6(t: string, end: number): string | null {
  if (end === 19) return '.000000';
  const digits = end - 20;
  if (t.charCodeAt(19) !== C_DOT || digits < 1 || digits > 6) return null;
  const last = t.charCodeAt(end - 1);
  if (last < C_ZERO || last > C_NINE) return null;
  return '.' + t.slice(20, end) + (FRACTION_PAD[digits] ?? '');
}

/** `[0-9]{5,}-` at the start: a year after 9999, which RFC 3339 cannot express. */
function hasLongYear(t: string): boolean {
  let i = 0;
  while (i < t.length && t.charCodeAt(i) >= C_ZERO && t.charCodeAt(i) <= C_NINE) i++;
  return i > 4 && t.charCodeAt(i) === C_DASH;
}

/**
 * Values without an ISO 8601 / RFC 3339 form keep PostgreSQL's text, which is lossless and cannot
 * be mistaken for the normalized form (no "T"): infinity, -infinity, BC, years after 9999.
 */
function nonIsoTimestamp(t: string, pgType: string, expected: string): string {
  if (t === 'infinity' || t === '-infinity' || t.endsWith(' BC') || hasLongYear(t)) return '"' + t + '"';
  throw new TypeMappingError(pgType, expected, t);
}

const mapTimestamp: ValueMapper = (t) => {
  const n = t.length;
  if (n >= 19 && n <= 26 && hasIsoDateTime(t)) {
    const fraction = fraction6(t, n);
    if (fraction !== null) return '"' + t.slice(0, 10) + 'T' + t.slice(11, 19) + fraction + '"';
  }
  return nonIsoTimestamp(t, 'pg_catalog.timestamp', 'YYYY-MM-DD HH:MM:SS[.ffffff] (DateStyle=ISO)');
};

const mapTimestamptz: ValueMapper = (t) => {
  const n = t.length;
  // Fast path: with TimeZone=UTC the offset is always printed as "+00".
  if (
    n >= 22 &&
    n <= 29 &&
    t.charCodeAt(n - 1) === C_ZERO &&
    t.charCodeAt(n - 2) === C_ZERO &&
    t.charCodeAt(n - 3) === C_PLUS &&
    hasIsoDateTime(t)
  ) {
    const fraction = fraction6(t, n - 3);
    if (fraction !== null) return '"' + t.slice(0, 10) + 'T' + t.slice(11, 19) + fraction + 'Z"';
  }
  return timestamptzWithOffset(t);
};

// Only reached when the session's TimeZone is not UTC; compiled once at module load.
const TIMESTAMPTZ_OFFSET =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?([+-])([0-9]{2})(?::([0-9]{2}))?(?::([0-9]{2}))?$/;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Converts a timestamptz printed in another zone (e.g. "+05:30", LMT "+00:19:32") to UTC. */
function timestamptzWithOffset(t: string): string {
  const m = TIMESTAMPTZ_OFFSET.exec(t);
  if (m !== null) {
    const offsetSeconds =
      (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
    const date = new Date(0);
    // setUTCFullYear, not Date.UTC: Date.UTC maps years 0..99 to 1900..1999.
    date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]) - offsetSeconds, 0);
    const year = date.getUTCFullYear();
    const digits = m[7] ?? '';
    if (year >= 1 && year <= 9999) {
      return (
        '"' + date.toISOString().slice(0, 19) + '.' + digits + (FRACTION_PAD[digits.length] ?? '') + 'Z"'
      );
    }
    // The shift crossed 0001-01-01 or 9999-12-31: answer what a UTC session prints (year 0 is 1 BC).
    const clock =
      `${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)} ${pad(date.getUTCHours(), 2)}:` +
      `${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}${digits === '' ? '' : '.' + digits}+00`;
    return year < 1 ? `"${pad(1 - year, 4)}-${clock} BC"` : `"${year}-${clock}"`;
  }
  return nonIsoTimestamp(t, 'pg_catalog.timestamptz', 'YYYY-MM-DD HH:MM:SS[.ffffff]+00 (DateStyle=ISO)');
}

// ---------------------------------------------------------------------------------------------
// Arrays

const MAX_ARRAY_DIMENSIONS = 6; // PostgreSQL's MAXDIM

/**
 * Recursive-descent reader of array_out's literal: `{a,b}`, nested `{{..},{..}}`, elements
 * double-quoted when they are empty, spell NULL in any case, or contain the delimiter, braces,
 * quotes, backslashes or whitespace, with `"` and `\` backslash-escaped inside quotes; a bare
 * NULL is SQL NULL. See https://www.postgresql.org/docs/current/arrays.html#ARRAYS-IO
 */
class ArrayLiteralReader {
  #pos: number;
  readonly #text: string;
  readonly #delim: number;
  readonly #map: ValueMapper;
  readonly #pgType: string;

  constructor(text: string, start: number, delim: number, map: ValueMapper, pgType: string) {
    this.#text = text;
    this.#pos = start;
    this.#delim = delim;
    this.#map = map;
    this.#pgType = pgType;
  }

  /** Reads the whole literal into a JSON array fragment. */
  read(): string {
    const out = this.#level(1);
    if (this.#pos !== this.#text.length) throw this.#fail();
    return out;
  }

  #level(depth: number): string {
    const t = this.#text;
    if (depth > MAX_ARRAY_DIMENSIONS || t.charCodeAt(this.#pos) !== C_LBRACE) throw this.#fail();
    this.#pos++;
    if (t.charCodeAt(this.#pos) === C_RBRACE) {
      this.#pos++;
      return '[]';
    }
    let out = '[';
    while (true) {
      const c = t.charCodeAt(this.#pos);
      if (c === C_LBRACE) out += this.#level(depth + 1);
      else if (c === C_QUOTE) out += this.#map(this.#quoted());
      else out += this.#unquoted();
      const next = t.charCodeAt(this.#pos++);
      if (next === C_RBRACE) return out + ']';
      if (next !== this.#delim) throw this.#fail();
      out += ',';
    }
  }

  #quoted(): string {
    const t = this.#text;
    let start = ++this.#pos;
    let value = '';
    while (this.#pos < t.length) {
      const c = t.charCodeAt(this.#pos);
      if (c === C_QUOTE) {
        value += t.slice(start, this.#pos++);
        return value;
      }
      if (c === C_BACKSLASH) {
        // Drop the backslash; the escaped character starts the next slice.
        value += t.slice(start, this.#pos);
        start = this.#pos + 1;
        this.#pos += 2;
      } else {
        this.#pos++;
      }
    }
    throw this.#fail();
  }

  #unquoted(): string {
    const t = this.#text;
    const start = this.#pos;
    while (this.#pos < t.length) {
      const c = t.charCodeAt(this.#pos);
      if (c === this.#delim || c === C_RBRACE) break;
      this.#pos++;
    }
    const token = t.slice(start, this.#pos);
    if (token.length === 0) throw this.#fail();
    // array_out quotes a string element spelled "null" in any case, so bare NULL is SQL NULL.
    if (token.length === 4 && token.toUpperCase() === 'NULL') return 'null';
    return this.#map(token);
  }

  #fail(): TypeMappingError {
    return new TypeMappingError(this.#pgType, 'an array literal {…}', this.#text);
  }
}

function arrayMapper(element: ValueMapper, delim: string, pgType: string): ValueMapper {
  const delimCode = delim.length === 1 ? delim.charCodeAt(0) : 44; /* , */
  return (text) => {
    let start = 0;
    // Non-default lower bounds print as "[0:1]={...}"; JSON arrays have no bounds, keep the elements.
    if (text.charCodeAt(0) === C_LBRACKET) {
      start = text.indexOf('=') + 1;
      if (start === 0) throw new TypeMappingError(pgType, 'an array literal [lo:hi]={…}', text);
    }
    return new ArrayLiteralReader(text, start, delimCode, element, pgType).read();
  };
}

// ---------------------------------------------------------------------------------------------
// Per-type table

const INTEGER_PATTERN = '^-?[0-9]+$';
const FRACTION = '(\\.[0-9]{1,6})?';
const OFFSET = '[+-][0-9]{2}(:[0-9]{2}){0,2}';
const PG_TIME = '[0-9]{2}:[0-9]{2}:[0-9]{2}' + FRACTION;
const MONTH_DAY = '-[0-9]{2}-[0-9]{2}';

/** PostgreSQL's text for dates RFC 3339 cannot hold: ±infinity, years after 9999, BC (suffix between). */
const nonIsoPattern = (suffix: string): string =>
  `^(-?infinity|[0-9]{5,}${MONTH_DAY}${suffix}|[0-9]{4,}${MONTH_DAY}${suffix} BC)$`;

interface Mapping {
  readonly map: ValueMapper;
  readonly schema: () => JsonSchema;
}

const text = (description?: string): Mapping => ({
  map: jsonString,
  schema: () => (description === undefined ? { type: 'string' } : { type: 'string', description }),
});

const pgText = (description: string, pattern?: string, map: ValueMapper = jsonString): Mapping => ({
  map,
  schema: () => ({ type: 'string', ...(pattern === undefined ? {} : { pattern }), description }),
});

const integer = (minimum: number, maximum: number): Mapping => ({
  map: verbatim,
  schema: () => ({ type: 'integer', minimum, maximum }),
});

const float: Mapping = {
  map: mapFloat,
  // `pattern` constrains only strings, so numbers pass and the only strings allowed are these three.
  schema: () => ({
    type: ['number', 'string'],
    pattern: '^(NaN|-?Infinity)$',
    description: 'IEEE 754 double; NaN, Infinity and -Infinity as strings (JSON has no such numbers)',
  }),
};

const json: Mapping = {
  map: verbatim,
  schema: () => ({
    description:
      'The JSON value itself, as PostgreSQL stores it (integers of any size exact on the wire; JSON null is indistinguishable from SQL NULL)',
  }),
};

const vector: Mapping = {
  map: mapVector,
  schema: () => ({ type: 'array', items: { type: 'integer' } }),
};

const geometric = (form: string): Mapping => pgText(`PostgreSQL's text form ${form}`);

/** Mappings of built-in types by name; a type not listed here maps to its text form as a string. */
const BUILTINS: ReadonlyMap<string, Mapping> = new Map<string, Mapping>([
  ['bool', { map: mapBool, schema: () => ({ type: 'boolean' }) }],
  ['int2', integer(-32768, 32767)],
  ['int4', integer(-2147483648, 2147483647)],
  ['oid', integer(0, 4294967295)],
  [
    'int8',
    pgText(
      '64-bit integer as a decimal string: exceeds the exact range of JSON numbers in JavaScript',
      INTEGER_PATTERN,
      quoted,
    ),
  ],
  [
    'numeric',
    pgText(
      'Arbitrary-precision decimal as a string with exactly the digits PostgreSQL prints; NaN, Infinity, -Infinity',
      '^(-?[0-9]+(\\.[0-9]+)?|NaN|-?Infinity)$',
      quoted,
    ),
  ],
  ['money', pgText('Amount exactly as PostgreSQL prints it for the server lc_monetary, e.g. "$1,234.56"')],
  ['float4', float],
  ['float8', float],
  ['text', text()],
  ['varchar', text()],
  ['bpchar', text('Blank-padded to the declared length, as PostgreSQL stores it')],
  ['name', text()],
  ['char', text('The single-byte "char" type; bytes above 127 print as \\ooo octal')],
  ['json', json],
  ['jsonb', json],
  [
    'bytea',
    {
      map: mapBytea,
      schema: () => ({
        type: 'string',
        contentEncoding: 'base64',
        description: 'Binary data, base64 (RFC 4648)',
      }),
    },
  ],
  [
    'timestamptz',
    {
      map: mapTimestamptz,
      schema: () => ({
        type: 'string',
        anyOf: [
          {
            format: 'date-time',
            pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$',
          },
          { pattern: nonIsoPattern(` ${PG_TIME}${OFFSET}`) },
        ],
        description:
          "ISO 8601 UTC with exactly 6 fractional digits (microseconds); infinity, -infinity, BC and years after 9999 keep PostgreSQL's text",
      }),
    },
  ],
  [
    'timestamp',
    {
      map: mapTimestamp,
      schema: () => ({
        type: 'string',
        anyOf: [
          { pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}$' },
          { pattern: nonIsoPattern(` ${PG_TIME}`) },
        ],
        description:
          "ISO 8601 local date-time without zone, exactly 6 fractional digits; infinity, -infinity, BC and years after 9999 keep PostgreSQL's text",
      }),
    },
  ],
  [
    'date',
    {
      map: quoted,
      schema: () => ({
        type: 'string',
        anyOf: [{ format: 'date', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }, { pattern: nonIsoPattern('') }],
        description: "PostgreSQL's text form (ISO date; infinity, -infinity, BC and years after 9999 too)",
      }),
    },
  ],
  ['time', pgText("PostgreSQL's text form HH:MM:SS[.ffffff]", `^${PG_TIME}$`, quoted)],
  [
    'timetz',
    pgText("PostgreSQL's text form HH:MM:SS[.ffffff]+HH[:MM[:SS]]", `^${PG_TIME}${OFFSET}$`, quoted),
  ],
  [
    'interval',
    pgText(
      'PostgreSQL\'s text form with IntervalStyle=postgres, e.g. "1 year 2 mons 3 days 04:05:06.789"',
      undefined,
      quoted,
    ),
  ],
  [
    'uuid',
    {
      map: quoted,
      schema: () => ({ type: 'string', format: 'uuid', description: "PostgreSQL's text form (lower case)" }),
    },
  ],
  [
    'inet',
    pgText("PostgreSQL's text form: address, with /mask unless it is a single host", undefined, quoted),
  ],
  ['cidr', pgText("PostgreSQL's text form: network/mask", undefined, quoted)],
  ['macaddr', pgText("PostgreSQL's text form", '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$', quoted)],
  ['macaddr8', pgText("PostgreSQL's text form", '^[0-9a-f]{2}(:[0-9a-f]{2}){7}$', quoted)],
  ['bit', pgText('Bit string of 0 and 1', '^[01]*$', quoted)],
  ['varbit', pgText('Bit string of 0 and 1', '^[01]*$', quoted)],
  ['xml', pgText("PostgreSQL's text form (the XML document or fragment)")],
  ['tsvector', pgText("PostgreSQL's text form, e.g. \"'cat':3 'fat':2\"")],
  ['tsquery', pgText("PostgreSQL's text form")],
  ['point', geometric('(x,y)')],
  ['line', geometric('{A,B,C}')],
  ['lseg', geometric('[(x1,y1),(x2,y2)]')],
  ['box', geometric('(x1,y1),(x2,y2)')],
  ['path', geometric('((x1,y1),...) closed or [(x1,y1),...] open')],
  ['polygon', geometric('((x1,y1),...)')],
  ['circle', geometric('<(x,y),r>')],
  ['int2vector', vector],
  ['oidvector', vector],
]);

// ---------------------------------------------------------------------------------------------
// Public API

const compiled = new WeakMap<PgType, ValueMapper>();

/** The mapper for values of `type`; compiled once per PgType object and cached. */
export function mapperFor(type: PgType): ValueMapper {
  let mapper = compiled.get(type);
  if (mapper === undefined) {
    mapper = compile(type);
    compiled.set(type, mapper);
  }
  return mapper;
}

function compile(type: PgType): ValueMapper {
  // A domain's values print with its base type's output function.
  if (type.kind === 'd') return type.base === null ? jsonString : mapperFor(type.base);
  if (type.schema === 'pg_catalog') {
    const builtin = BUILTINS.get(type.name);
    if (builtin !== undefined) return builtin.map;
  }
  if (type.category === 'A' && type.element !== null) {
    // array_out separates elements with the element type's typdelim (';' for box).
    return arrayMapper(mapperFor(type.element), type.element.delim, qualifiedName(type));
  }
  // Enums, ranges, multiranges, composites, extension types (citext, hstore, …) and anything
  // unknown: PostgreSQL's text form is lossless and needs no knowledge of the type.
  return jsonString;
}

/** Maps one value: `null` (SQL NULL) to `null`, anything else through `mapperFor(type)`. */
export function mapText(type: PgType, text: string | null): string {
  return text === null ? 'null' : mapperFor(type)(text);
}

/** The JSON Schema (draft 2020-12) of what `mapperFor(type)` emits for non-NULL values. */
export function jsonSchemaFor(type: PgType): JsonSchema {
  const pgType = qualifiedName(type);
  if (type.kind === 'd' && type.base !== null) {
    const base = jsonSchemaFor(type.base);
    const about = typeof base.description === 'string' ? `: ${base.description}` : '';
    return { ...base, 'x-pg-type': pgType, description: `Domain over ${qualifiedName(type.base)}${about}` };
  }
  if (type.schema === 'pg_catalog') {
    const builtin = BUILTINS.get(type.name);
    if (builtin !== undefined) return withPgType(builtin.schema(), pgType);
  }
  if (type.category === 'A' && type.element !== null) return arraySchema(type.element, pgType);
  return { type: 'string', 'x-pg-type': pgType, description: describeOther(type) };
}

/** `jsonSchemaFor(type)`, also allowing `null` when the column is nullable. */
export function columnSchema(type: PgType, nullable: boolean): JsonSchema {
  const schema = jsonSchemaFor(type);
  return nullable ? withNull(schema) : schema;
}

function qualifiedName(type: PgType): string {
  return `${type.schema}.${type.name}`;
}

function withPgType(schema: JsonSchema, pgType: string): JsonSchema {
  const { type, ...rest } = schema;
  return type === undefined ? { 'x-pg-type': pgType, ...rest } : { type, 'x-pg-type': pgType, ...rest };
}

function withNull(schema: JsonSchema): JsonSchema {
  const type = schema.type;
  // No `type` (json/jsonb) already admits null. Every other keyword used here (pattern, format,
  // items, minimum, type-less anyOf branches) constrains only non-null instances.
  if (type === undefined) return schema;
  const types = Array.isArray(type) ? type : [type];
  return { ...schema, type: types.includes('null') ? types : [...types, 'null'] };
}

/**
 * PostgreSQL does not fix an array column's number of dimensions, so the schema admits nesting
 * up to MAXDIM (6) levels, each element being the element type's value or null.
 */
function arraySchema(element: PgType, pgType: string): JsonSchema {
  let level: JsonSchema = { type: 'array', items: columnSchema(element, true) };
  for (let depth = MAX_ARRAY_DIMENSIONS - 1; depth >= 1; depth--) {
    level = { type: 'array', items: { anyOf: [columnSchema(element, true), level] } };
  }
  return {
    ...level,
    'x-pg-type': pgType,
    description: `Array of ${qualifiedName(element)}; multi-dimensional arrays nest, NULL elements are null, bounds are dropped`,
  };
}

function describeOther(type: PgType): string {
  switch (type.kind) {
    case 'e':
      return 'Enum label';
    case 'r':
      return 'Range in PostgreSQL\'s text form, e.g. "[1,10)" or "empty"';
    case 'm':
      return 'Multirange in PostgreSQL\'s text form, e.g. "{[1,3),[5,7)}"';
    case 'c': {
      const fields = type.fields?.map((f) => `${f.name} ${qualifiedName(f.type)}`).join(', ');
      return `Composite in PostgreSQL's row text form, e.g. (1,"a b",)${fields ? `; fields: ${fields}` : ''}`;
    }
    default:
      return "PostgreSQL's text form";
  }
}
