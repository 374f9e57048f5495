/**
 * What the event builder knows about each published table: columns with their compiled value
 * mappers, the identity (key) columns, subject prefixes, and the table's schemaVersion.
 * Built from pgoutput Relation messages (the column set as of that point in the WAL), completed
 * with a catalog lookup for the primary key and NOT NULL flags.
 */
import { createHash } from 'node:crypto';
import type { RelationMessage } from '../source/pgoutput.js';
import type { PgType } from '../source/type-catalog.js';
import { columnSchema, mapperFor, type ValueMapper } from './type-mapping.js';
import { encodeName } from '../../schemas/keys.js';
import { deltaSubject, factTableSubject } from '../../schemas/subjects.js';

/** Catalog access the registry needs; implemented over a pg connection in the composition root. */
export interface Catalog {
  loadTypes(oids: number[]): Promise<Map<number, PgType>>;
  /** Primary-key columns (else replica-identity index columns) and NOT NULL columns of a relation. */
  describe(relationId: number): Promise<{ identity: string[]; notNull: Set<string> }>;
}

/** Assigns each distinct column layout of a table an increasing integer version. */
export interface SchemaRegistry {
  resolve(table: string, fingerprint: string, jsonSchema: object, lsn: bigint): Promise<number>;
}

export interface ColumnInfo {
  readonly name: string;
  readonly typeOid: number;
  readonly mapper: ValueMapper;
  /** `"name":` — the column's JSON member prefix, escaped once. */
  readonly member: string;
}

export interface TableInfo {
  readonly relationId: number;
  readonly schema: string;
  readonly table: string;
  /** "schema.table" */
  readonly name: string;
  /** JSON string of `name`. */
  readonly nameJson: string;
  readonly replicaIdentity: RelationMessage['replicaIdentity'];
  readonly columns: readonly ColumnInfo[];
  /** Indexes of identity columns into `columns`; empty when the table has no usable identity. */
  readonly keyIdx: readonly number[];
  readonly schemaVersion: number;
  /** `<P>.fact.<schema>.<table>.` */
  readonly factPrefix: string;
  /** `<P>.delta.<schema>.<table>.<op>.` per op */
  readonly deltaPrefix: Readonly<Record<'insert' | 'update' | 'delete' | 'truncate', string>>;
  /** CloudEvents `dataschema`. */
  readonly dataschema: string;
  /** JSON Schema of a row of this table. */
  readonly rowSchema: object;
}

/** Builds TableInfo from a Relation message. */
export async function describeRelation(
  rel: RelationMessage,
  prefix: string,
  catalog: Catalog,
  registry: SchemaRegistry,
  lsn: bigint,
  onBadValue: (column: string, text: string, err: unknown) => void = () => undefined,
): Promise<TableInfo> {
  const types = await catalog.loadTypes([...new Set(rel.columns.map((c) => c.typeOid))]);
  const { identity, notNull } = await catalog.describe(rel.relationId);
  const columns: ColumnInfo[] = rel.columns.map((c) => {
    const type = types.get(c.typeOid);
    if (!type)
      throw new Error(`type ${c.typeOid} of ${rel.schema}.${rel.table}.${c.name} not found in the catalog`);
    return {
      name: c.name,
      typeOid: c.typeOid,
      mapper: tolerant(mapperFor(type), `${rel.schema}.${rel.table}.${c.name}`, onBadValue),
      member: JSON.stringify(c.name) + ':',
    };
  });
  // The replica-identity flags of the Relation message are the key as of this WAL position; with
  // REPLICA IDENTITY FULL every column is flagged, so the primary key comes from the catalog.
  let keyNames: string[];
  if (rel.replicaIdentity === 'full' || rel.replicaIdentity === 'nothing') keyNames = identity;
  else keyNames = rel.columns.filter((c) => c.isKey).map((c) => c.name);
  const keyIdx = keyNames.map((n) => rel.columns.findIndex((c) => c.name === n)).filter((i) => i >= 0);
  const name = `${rel.schema}.${rel.table}`;
  const properties: Record<string, object> = {};
  for (const c of rel.columns) properties[c.name] = columnSchema(types.get(c.typeOid)!, !notNull.has(c.name));
  const rowSchema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: name,
    type: 'object',
    properties,
    required: rel.columns.map((c) => c.name),
    additionalProperties: false,
    'x-key': keyIdx.map((i) => rel.columns[i]!.name),
  };
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([rel.columns.map((c) => [c.name, c.typeOid, c.typeMod]), keyIdx]))
    .digest('hex')
    .slice(0, 16);
  const schemaVersion = await registry.resolve(name, fingerprint, rowSchema, lsn);
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
    keyIdx,
    schemaVersion,
    factPrefix,
    deltaPrefix: {
      insert: dp('insert'),
      update: dp('update'),
      delete: dp('delete'),
      truncate: dp('truncate'),
    },
    dataschema: `urn:sluice:schema:${encodeName(rel.schema)}.${encodeName(rel.table)}:${schemaVersion}`,
    rowSchema,
  };
}

/** In-memory registry for tests and for `schemaVersion` when no KV store is configured. */
export class MemorySchemaRegistry implements SchemaRegistry {
  readonly #tables = new Map<string, { fingerprint: string; version: number }[]>();
  async resolve(table: string, fingerprint: string): Promise<number> {
    const versions = this.#tables.get(table) ?? [];
    const last = versions[versions.length - 1];
    if (last && last.fingerprint === fingerprint) return last.version;
    const version = (last?.version ?? 0) + 1;
    versions.push({ fingerprint, version });
    this.#tables.set(table, versions);
    return version;
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
