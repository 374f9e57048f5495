/**
 * The schema registry's format and reader: every column layout each published table has had,
 * numbered `schemaVersion` 1, 2, 3…, stored in the NATS KV bucket `<PREFIX>_SCHEMAS` under the key
 * `<schema>.<table>` (names outside `[A-Za-z0-9_-]` as `=` + base64url), as a JSON array of
 * {@link StoredSchemaVersion} in version order.
 *
 * No server code: the reader takes any object with the two read calls of a NATS KV bucket
 * ({@link SchemaKv}); a bucket opened with `@nats-io/kv` (`await new Kvm(nc).open('CDC_SCHEMAS')`)
 * is one. The connector writes through {@link resolveVersion}, the same pure rule a replay uses.
 */
import { z } from 'zod';
import { decodeKvName, decodeName, encodeKvName, encodeName } from './keys.js';
import { prefixedName } from './subjects.js';
import { comparePositions, formatVersion, parseVersion, type Position } from './versions.js';

/** One column of a table version. */
export const ColumnShape = z.object({
  name: z.string(),
  /** Qualified type name from the catalog: `pg_catalog.int8`, `public.mood`, `pg_catalog._int4` (arrays). */
  type: z.string(),
  /** Type OID and modifier as pgoutput's Relation message sent them (-1: no modifier). */
  typeOid: z.number().int(),
  typeMod: z.number().int(),
  /** Whether the column may be NULL (the catalog's NOT NULL when the version was recorded). */
  nullable: z.boolean(),
  /** Whether the column has a default (the catalog's, when the version was recorded). */
  hasDefault: z.boolean().optional(),
  /** `pg_attribute.attnum` when the version was recorded: tells a renamed column from a new one. */
  attnum: z.number().int().optional(),
  /**
   * How the connector masks the column's values (docs/masking.md): `hash` (HMAC-SHA-256 hex) and
   * `redact` publish text (`type` is then `pg_catalog.text`), `null` publishes null. Absent: clear.
   */
  mask: z.enum(['hash', 'redact', 'null']).optional(),
});
export type ColumnShape = z.infer<typeof ColumnShape>;

/** One stored version of a table's shape: an element of the array under the table's KV key. */
export const StoredSchemaVersion = z.object({
  version: z.number().int().positive(),
  /** Hash of (column names, type OIDs, type modifiers, key columns): equal layouts, equal fingerprints. */
  fingerprint: z.string(),
  /** Decimal commit LSN where the layout was first streamed; "0" while only the snapshotter saw it. */
  since: z.string(),
  /**
   * Position (a `version` string) of the layout's schema event, the first event published under it;
   * null while only the snapshotter saw it. Absent in entries written before schema events existed
   * (then `since` with index 0 stands for it).
   */
  position: z.string().nullable().optional(),
  /** "schema.table" (absent in entries written before this field existed). */
  table: z.string().optional(),
  /** Columns in order (absent in older entries: {@link columnsOf} reads them from `schema`). */
  columns: z.array(ColumnShape).optional(),
  /** Key (identity) columns in key order; empty when the table has none. */
  key: z.array(z.string()).optional(),
  /** The table's previous name, when this version was recorded because the table was renamed. */
  renamedFrom: z.string().optional(),
  /** JSON Schema (draft 2020-12) of a row under this version; see docs/type-mapping.md. */
  schema: z.record(z.string(), z.unknown()),
});
export type StoredSchemaVersion = z.infer<typeof StoredSchemaVersion>;

/** The value under one table's key: its versions in order. */
export const TableSchemaHistory = z.array(StoredSchemaVersion);

/** Name of the KV bucket of a prefix: `cdc` → `CDC_SCHEMAS`. */
export function schemaBucketName(prefix: string): string {
  return prefixedName(prefix, 'SCHEMAS');
}

/** KV key of a table ("schema.table"): encoded schema and table names joined by a dot. */
export function schemaKey(table: string): string {
  const { schema, name } = splitTable(table);
  return `${encodeKvName(schema)}.${encodeKvName(name)}`;
}

/** Reverses {@link schemaKey}: the "schema.table" a KV key stands for. */
export function tableOfSchemaKey(key: string): string {
  const i = key.indexOf('.');
  if (i < 1) throw new TypeError(`"${key}" is not a schema registry key (expected <schema>.<table>)`);
  return `${decodeKvName(key.slice(0, i))}.${decodeKvName(key.slice(i + 1))}`;
}

/** Splits "schema.table" at its first dot (schema names cannot be empty). */
export function splitTable(table: string): { schema: string; name: string } {
  const i = table.indexOf('.');
  if (i < 1) throw new TypeError(`"${table}" is not a table name (expected schema.table)`);
  return { schema: table.slice(0, i), name: table.slice(i + 1) };
}

/** CloudEvents `dataschema` of a table version: `urn:sluice:schema:<schema>.<table>:<version>`. */
export function dataschemaUri(table: string, version: number): string {
  const { schema, name } = splitTable(table);
  return `urn:sluice:schema:${encodeName(schema)}.${encodeName(name)}:${version}`;
}

const DATASCHEMA = /^urn:sluice:schema:([~A-Za-z0-9_-]+)\.([~A-Za-z0-9_-]+):([1-9][0-9]*)$/;

/** Reverses {@link dataschemaUri}; null for another URI. */
export function parseDataschema(uri: string): { table: string; version: number } | null {
  const m = DATASCHEMA.exec(uri);
  if (!m) return null;
  return { table: `${decodeName(m[1]!)}.${decodeName(m[2]!)}`, version: Number(m[3]) };
}

/** Where a version takes effect, or null while only the snapshotter saw it. */
export function positionOf(v: StoredSchemaVersion): Position | null {
  if (v.position) return parseVersion(v.position);
  if (v.position === null || v.since === '0') return null;
  return { commitLsn: BigInt(v.since), commitIdx: 0 };
}

/** The version in effect at a position: the last one that took effect at or before it. */
export function versionAt(
  history: readonly StoredSchemaVersion[],
  at: Position,
): StoredSchemaVersion | undefined {
  return history.findLast((v) => {
    const p = positionOf(v);
    return p !== null && comparePositions(p, at) <= 0;
  });
}

/** A table version as the connector computes it from a Relation message. */
export interface TableShape {
  readonly table: string;
  readonly fingerprint: string;
  readonly columns: readonly ColumnShape[];
  readonly key: readonly string[];
  readonly schema: Record<string, unknown>;
  /** Previous name when the connector saw the relation renamed (recorded on a new version only). */
  readonly renamedFrom?: string;
}

/** What {@link resolveVersion} decided. */
export interface Resolution {
  /** The version of the shape at that position. */
  readonly entry: StoredSchemaVersion;
  /** True when the shape takes effect exactly at this position: a schema event belongs there. */
  readonly changed: boolean;
  /** The history to store, or null when it is unchanged. */
  readonly write: StoredSchemaVersion[] | null;
  /** When `changed`: the version in effect right before this position (null: none). */
  readonly previous: StoredSchemaVersion | null;
  /** Every version of the table after this resolution (`write` when there is one). */
  readonly history: readonly StoredSchemaVersion[];
}

/**
 * The schemaVersion of a shape seen at a position (null: the snapshotter, outside the stream).
 *
 * Deterministic on replay: the first time the stream meets a layout different from the one in
 * effect, the next number is recorded with this position; a replay meets the same Relation
 * message at the same position, finds that record, and reports `changed` again (so the schema
 * event is rebuilt identically, and skipped if stored). A Relation message resent without DDL
 * (after a reconnect, a relcache invalidation) finds the layout in effect: no change. Numbers only
 * rise, also when a table returns to an earlier layout.
 */
export function resolveVersion(
  history: readonly StoredSchemaVersion[],
  shape: TableShape,
  at: Position | null,
): Resolution {
  const last = history[history.length - 1];
  const previous =
    at === null
      ? null
      : (history.findLast((v) => {
          const p = positionOf(v);
          return p !== null && comparePositions(p, at) < 0;
        }) ?? null);
  const fresh = (position: Position | null): Resolution => {
    const entry: StoredSchemaVersion = {
      version: (last?.version ?? 0) + 1,
      fingerprint: shape.fingerprint,
      since: position ? position.commitLsn.toString() : '0',
      position: position ? formatVersion(position.commitLsn, position.commitIdx) : null,
      table: shape.table,
      columns: [...shape.columns],
      key: [...shape.key],
      ...(shape.renamedFrom ? { renamedFrom: shape.renamedFrom } : {}),
      schema: shape.schema,
    };
    const write = [...history, entry];
    return { entry, changed: position !== null, write, previous, history: write };
  };
  if (at === null) {
    // The snapshotter asks for the current layout.
    if (last && last.fingerprint === shape.fingerprint)
      return { entry: last, changed: false, write: null, previous: null, history };
    return fresh(null);
  }
  const current = versionAt(history, at);
  if (current && current.fingerprint === shape.fingerprint) {
    // Entries from before schema events (no `position`) never had an event: none on replay either,
    // or the replayed events' indexes would shift.
    const changed = typeof current.position === 'string' && comparePositions(positionOf(current)!, at) === 0;
    return { entry: current, changed, write: null, previous: changed ? previous : null, history };
  }
  // Recorded by the snapshotter only (it reads the catalog, which may be ahead of the stream, so
  // there may be several): the stream claims the first matching one after the version in effect.
  const pending = history.findIndex(
    (v) =>
      positionOf(v) === null &&
      v.fingerprint === shape.fingerprint &&
      (!current || v.version > current.version),
  );
  if (pending >= 0) {
    const v = history[pending]!;
    const claimed: StoredSchemaVersion = {
      ...v,
      since: at.commitLsn.toString(),
      position: formatVersion(at.commitLsn, at.commitIdx),
      // The snapshotter may have met a renamed table under its new name first.
      ...(shape.renamedFrom && !v.renamedFrom ? { renamedFrom: shape.renamedFrom } : {}),
    };
    const write = history.map((h, i) => (i === pending ? claimed : h));
    return { entry: claimed, changed: true, write, previous, history: write };
  }
  // A replay reaching further back than anything recorded: the first layout, no event.
  if (!current && history[0]?.fingerprint === shape.fingerprint && positionOf(history[0]) !== null)
    return { entry: history[0], changed: false, write: null, previous: null, history };
  return fresh(at);
}

/** The columns of a version; older entries without `columns` are read from the JSON Schema. */
export function columnsOf(v: StoredSchemaVersion): ColumnShape[] {
  if (v.columns) return v.columns;
  const props = (v.schema.properties ?? {}) as Record<string, { type?: unknown; 'x-pg-type'?: string }>;
  return Object.entries(props).map(([name, s]) => ({
    name,
    type: s['x-pg-type'] ?? 'unknown',
    typeOid: 0,
    typeMod: -1,
    nullable: s.type === undefined || (Array.isArray(s.type) && s.type.includes('null')),
  }));
}

/** The key columns of a version (older entries: the JSON Schema's `x-key`). */
export function keyOf(v: StoredSchemaVersion): string[] {
  return v.key ?? (v.schema['x-key'] as string[] | undefined) ?? [];
}

/** A stored value of a KV bucket, as `@nats-io/kv` returns it. */
export interface SchemaKvEntry {
  readonly revision: number;
  /** Bytes of the value; 0 for a delete or purge marker. */
  readonly length: number;
  string(): string;
}

/** The reads the registry reader makes; a `@nats-io/kv` bucket satisfies it. */
export interface SchemaKv {
  get(key: string): Promise<SchemaKvEntry | null>;
  keys(filter?: string): Promise<AsyncIterable<string>>;
}

/** Parses a stored value; a clear error naming the key when it is not a registry entry. */
export function parseHistory(key: string, text: string): StoredSchemaVersion[] {
  const r = TableSchemaHistory.safeParse(JSON.parse(text));
  if (!r.success)
    throw new TypeError(`schema registry entry ${key} is not a list of schema versions: ${r.error.message}`);
  return r.data;
}

/** Reads the registry: histories of tables and the exact schema of any event. */
export class SchemaRegistryReader {
  readonly #kv: SchemaKv;
  /** Histories read, by table; a version never changes once claimed, so lookups of known versions are served from here. */
  readonly #cache = new Map<string, StoredSchemaVersion[]>();

  constructor(kv: SchemaKv) {
    this.#kv = kv;
  }

  /** Every version of a table ("schema.table"), oldest first; empty when the table is unknown. */
  async history(table: string): Promise<StoredSchemaVersion[]> {
    const key = schemaKey(table);
    const e = await this.#kv.get(key);
    const h = e && e.length ? parseHistory(key, e.string()) : [];
    this.#cache.set(table, h);
    return h;
  }

  /** Every table with its versions, by "schema.table". */
  async all(): Promise<Map<string, StoredSchemaVersion[]>> {
    const out = new Map<string, StoredSchemaVersion[]>();
    const keys: string[] = [];
    for await (const k of await this.#kv.keys()) keys.push(k);
    keys.sort();
    for (const k of keys) {
      const table = tableOfSchemaKey(k);
      const h = await this.history(table);
      if (h.length) out.set(table, h);
    }
    return out;
  }

  /** One version of a table, or null. */
  async version(table: string, version: number): Promise<StoredSchemaVersion | null> {
    const find = (h: StoredSchemaVersion[] | undefined) => h?.find((v) => v.version === version);
    return find(this.#cache.get(table)) ?? find(await this.history(table)) ?? null;
  }

  /** The exact schema an event was produced under, from its `dataschema`; null when unknown. */
  async forEvent(event: { dataschema?: string | undefined }): Promise<StoredSchemaVersion | null> {
    const ref = event.dataschema ? parseDataschema(event.dataschema) : null;
    return ref ? this.version(ref.table, ref.version) : null;
  }
}
