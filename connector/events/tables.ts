/**
 * What the event builder knows about each published table: columns with their compiled value
 * mappers, the identity (key) columns, subject prefixes, and the table's schemaVersion.
 * Built from pgoutput Relation messages (the column set as of that point in the WAL), completed
 * with a catalog lookup for the primary key and NOT NULL flags.
 */
import { createHash } from 'node:crypto';
import type { RelationMessage } from '../source/pgoutput.js';
import { columnSchema, mapperFor } from './type-mapping.js';
import type { Catalog, ColumnInfo, SchemaRegistry, TableInfo, ValueMapper } from '../ports.js';
import { deltaSubject, factTableSubject } from '../../schemas/subjects.js';
import { encodeKeyFragments } from '../../schemas/keys.js';
import {
  dataschemaUri,
  resolveVersion,
  type ColumnShape,
  type Resolution,
  type StoredSchemaVersion,
  type TableShape,
} from '../../schemas/registry.js';
import type { Position } from '../../schemas/versions.js';
import { keyViolation, maskedColumnSchema, MASKED_TEXT_TYPE, type ColumnPolicy } from './column-policy.js';

/**
 * The key token of a row (fragments in column order): its identity columns encoded for a subject
 * (schemas/keys.ts). The one way the events and the snapshot name an entity.
 */
export function keyTokenOf(t: TableInfo, row: readonly (string | undefined)[]): string {
  const idx = t.keyIdx;
  if (idx.length === 1) return encodeKeyFragments([row[idx[0]!]!]);
  return encodeKeyFragments(idx.map((i) => row[i]!));
}

/**
 * Builds TableInfo from a Relation message. `policy` (column exclusion and masking) is applied
 * here, once: excluded columns are left out of the description, masked columns get a masking
 * mapper and the published type and schema of what they carry.
 */
export async function describeRelation(
  rel: RelationMessage,
  prefix: string,
  catalog: Catalog,
  registry: SchemaRegistry,
  at: Position | null,
  onBadValue: (column: string, text: string, err: unknown) => void = () => undefined,
  /** The relation's previous name, when the stream saw it renamed (recorded on a new version). */
  renamedFrom?: string,
  policy?: ColumnPolicy,
): Promise<TableInfo> {
  const name = `${rel.schema}.${rel.table}`;
  const p = policy?.forTable(name) ?? null;
  const relColumns = p ? rel.columns.filter((c) => !p.excluded(c.name)) : rel.columns;
  const sourceIdx =
    relColumns.length === rel.columns.length ? null : relColumns.map((c) => rel.columns.indexOf(c));
  const maskOf = (column: string) => p?.mask(column);
  const types = await catalog.loadTypes([...new Set(relColumns.map((c) => c.typeOid))]);
  const described = await catalog.describe(rel.relationId);
  const { identity, notNull, defaults } = described;
  const attributes = p ? described.attributes?.filter((a) => !p.excluded(a.name)) : described.attributes;
  // Attnums tell a renamed column from a dropped and added one, but only when the catalog still
  // has exactly the columns of this Relation message (the stream may lag behind later DDL).
  const inSync =
    attributes !== undefined &&
    attributes.length === relColumns.length &&
    attributes.every((a, i) => a.name === relColumns[i]!.name && a.typeOid === relColumns[i]!.typeOid);
  const columns: ColumnInfo[] = relColumns.map((c) => {
    const type = types.get(c.typeOid);
    if (!type)
      throw new Error(`type ${c.typeOid} of ${rel.schema}.${rel.table}.${c.name} not found in the catalog`);
    const mask = maskOf(c.name);
    return {
      name: c.name,
      typeOid: mask && mask !== 'null' ? MASKED_TEXT_TYPE.oid : c.typeOid,
      // A masked value never reaches the type's mapper (nor its error report, which prints it).
      mapper: mask ? p!.mapper(mask) : tolerant(mapperFor(type), `${name}.${c.name}`, onBadValue),
      member: JSON.stringify(c.name) + ':',
      ...(mask ? { mask } : {}),
    };
  });
  // The replica-identity flags of the Relation message are the key as of this WAL position; with
  // REPLICA IDENTITY FULL every column is flagged, so the primary key comes from the catalog.
  let keyNames: string[];
  if (rel.replicaIdentity === 'full' || rel.replicaIdentity === 'nothing') keyNames = identity;
  else keyNames = rel.columns.filter((c) => c.isKey).map((c) => c.name);
  if (p) {
    const refused = keyViolation(p, keyNames);
    if (refused) throw refused;
  }
  const keyIdx = keyNames.map((n) => relColumns.findIndex((c) => c.name === n)).filter((i) => i >= 0);
  const properties: Record<string, object> = {};
  for (const c of relColumns) {
    const type = types.get(c.typeOid)!;
    const mask = maskOf(c.name);
    properties[c.name] = mask
      ? maskedColumnSchema(mask, `${type.schema}.${type.name}`, mask === 'null' || !notNull.has(c.name))
      : columnSchema(type, !notNull.has(c.name));
  }
  const rowSchema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: name,
    type: 'object',
    properties,
    // Key columns are always present; any other column is left out of a row when its value is
    // unknown (docs/events.md, "Values Sluice does not know"), never set to a made-up null.
    required: keyIdx.map((i) => relColumns[i]!.name),
    additionalProperties: false,
    'x-key': keyIdx.map((i) => relColumns[i]!.name),
  };
  // A masked column adds its mask to the fingerprint (so changing the policy records a new
  // version); the fingerprint of a table without a policy is what it always was.
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify([
        relColumns.map((c) => {
          const mask = maskOf(c.name);
          return mask ? [c.name, c.typeOid, c.typeMod, mask] : [c.name, c.typeOid, c.typeMod];
        }),
        keyIdx,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  const shapeColumns: ColumnShape[] = relColumns.map((c) => {
    const attnum = inSync ? attributes.find((a) => a.name === c.name)?.attnum : undefined;
    const mask = maskOf(c.name);
    const text = mask === 'hash' || mask === 'redact';
    const type = types.get(c.typeOid)!;
    return {
      name: c.name,
      type: text ? MASKED_TEXT_TYPE.name : `${type.schema}.${type.name}`,
      typeOid: text ? MASKED_TEXT_TYPE.oid : c.typeOid,
      typeMod: text ? MASKED_TEXT_TYPE.typeMod : c.typeMod,
      nullable: mask === 'null' || !notNull.has(c.name),
      ...(defaults ? { hasDefault: defaults.has(c.name) } : {}),
      ...(attnum !== undefined ? { attnum } : {}),
      ...(mask ? { mask } : {}),
    };
  });
  const resolution = await registry.resolve(
    {
      table: name,
      fingerprint,
      columns: shapeColumns,
      key: keyIdx.map((i) => relColumns[i]!.name),
      schema: rowSchema,
      ...(renamedFrom ? { renamedFrom } : {}),
    },
    at,
  );
  const schemaVersion = resolution.entry.version;
  const factPrefix = factTableSubject(prefix, rel.schema, rel.table) + '.';
  const dp = (op: 'insert' | 'update' | 'delete' | 'truncate') =>
    deltaSubject(prefix, rel.schema, rel.table, op, '');
  return {
    relationId: rel.relationId,
    schema: rel.schema,
    table: rel.table,
    name,
    nameJson: JSON.stringify(name),
    replicaIdentity: rel.replicaIdentity,
    columns,
    sourceIdx,
    keyIdx,
    schemaVersion,
    factPrefix,
    deltaPrefix: {
      insert: dp('insert'),
      update: dp('update'),
      delete: dp('delete'),
      truncate: dp('truncate'),
    },
    dataschema: dataschemaUri(name, schemaVersion),
    rowSchema,
    schemaEntry: resolution.entry,
    schemaChanged: resolution.changed,
    schemaPrevious: resolution.previous,
    schemaHistory: resolution.history,
  };
}

/** In-memory registry for tests and for `schemaVersion` when no KV store is configured. */
export class MemorySchemaRegistry implements SchemaRegistry {
  readonly #tables = new Map<string, StoredSchemaVersion[]>();
  async resolve(shape: TableShape, at: Position | null): Promise<Resolution> {
    const r = resolveVersion(this.#tables.get(shape.table) ?? [], shape, at);
    if (r.write) this.#tables.set(shape.table, r.write);
    return r;
  }
  /** Versions recorded for a table, oldest first. */
  history(table: string): readonly StoredSchemaVersion[] {
    return this.#tables.get(table) ?? [];
  }
}

/**
 * A value the mapping cannot read (an output format it does not expect) must not stop the
 * pipeline: restarting would meet the same value again, forever. It is published as PostgreSQL's
 * text, as a JSON string, and reported.
 */
function tolerant(
  mapper: ValueMapper,
  column: string,
  onBadValue: (column: string, text: string, err: unknown) => void,
): ValueMapper {
  return (text) => {
    try {
      return mapper(text);
    } catch (err) {
      onBadValue(column, text, err);
      return JSON.stringify(text);
    }
  };
}
