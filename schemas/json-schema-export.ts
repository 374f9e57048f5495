/**
 * `sluice schemas export`: the contract as JSON Schema (draft 2020-12) files, for consumers in any
 * language. The generic envelope and event shapes come from the zod schemas in events.ts; each
 * table version's files embed the registry's row schema (docs/type-mapping.md) into them.
 *
 * Layout (paths relative to the output directory):
 *
 * - `envelope.schema.json`, `fact.schema.json`, `delta.schema.json`, `tx.schema.json`,
 *   `schema-event.schema.json`: every event of that kind;
 * - `tables/<schema>.<table>/v<N>.row.schema.json`: a row of version N (as stored in the registry);
 * - `tables/<schema>.<table>/v<N>.fact.schema.json`, `….delta.schema.json`: a fact / delta
 *   produced under version N, exactly (`dataschema` and `data.schemaVersion` are constants).
 */
import { z } from 'zod';
import { cloudEvent, DeltaEvent, FactEvent, SchemaEvent, TxMarkerEvent } from './events.js';
import { dataschemaUri, keyOf, schemaKey, type StoredSchemaVersion } from './registry.js';

type Json = Record<string, unknown>;

const toJson = (s: z.ZodType, title: string): Json => ({ ...(z.toJSONSchema(s) as Json), title });

/** Generic schemas: file name → JSON Schema. */
export function genericSchemas(): Map<string, Json> {
  return new Map([
    ['envelope.schema.json', toJson(cloudEvent(z.unknown()), 'Sluice event envelope (CloudEvents 1.0)')],
    ['fact.schema.json', toJson(FactEvent, 'Sluice fact')],
    ['delta.schema.json', toJson(DeltaEvent, 'Sluice delta')],
    ['tx.schema.json', toJson(TxMarkerEvent, 'Sluice transaction commit marker')],
    ['schema-event.schema.json', toJson(SchemaEvent, 'Sluice schema event')],
  ]);
}

function withoutMeta(schema: Json): Json {
  const { $schema: _, ...rest } = schema;
  return rest;
}

/** The files of one table version: path → JSON Schema. */
export function tableVersionSchemas(table: string, v: StoredSchemaVersion): Map<string, Json> {
  const dir = `tables/${schemaKey(table)}`;
  const uri = dataschemaUri(table, v.version);
  const row = withoutMeta(v.schema);
  const props = (row.properties ?? {}) as Record<string, Json>;
  const fact = structuredClone(genericSchemas().get('fact.schema.json')!) as Json;
  const delta = structuredClone(genericSchemas().get('delta.schema.json')!) as Json;
  const exact = (event: Json, kind: string, data: Record<string, Json>) => {
    const p = event.properties as Record<string, Json>;
    p.dataschema = { const: uri };
    p.type = { const: `io.sluice.${kind}` };
    const dp = (p.data as { properties: Record<string, Json> }).properties;
    dp.table = { const: table };
    dp.schemaVersion = { const: v.version };
    Object.assign(dp, data);
    event.required = [...new Set([...((event.required as string[]) ?? []), 'dataschema', 'subject'])];
    event.title = `${table} ${kind}, schemaVersion ${v.version}`;
    event.$id = `${uri}:${kind}`;
  };
  const key: Json = {
    type: 'object',
    properties: Object.fromEntries(keyOf(v).map((k) => [k, props[k] ?? {}])),
    required: keyOf(v),
    additionalProperties: false,
  };
  exact(fact, 'fact', {
    row: { anyOf: [row, { type: 'null' }] },
    key: { anyOf: [key, { type: 'object', maxProperties: 0 }] },
  });
  exact(delta, 'delta', {
    key: { anyOf: [key, { type: 'null' }] },
    changes: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        Object.entries(props).map(([c, s]) => [
          c,
          { type: 'object', properties: { old: s, new: s }, additionalProperties: false },
        ]),
      ),
    },
  });
  return new Map([
    [`${dir}/v${v.version}.row.schema.json`, { $id: uri, ...v.schema }],
    [`${dir}/v${v.version}.fact.schema.json`, fact],
    [`${dir}/v${v.version}.delta.schema.json`, delta],
  ]);
}

/** Every file of an export: path → JSON Schema. */
export function exportSchemas(
  tables: ReadonlyMap<string, readonly StoredSchemaVersion[]>,
): Map<string, Json> {
  const out = genericSchemas();
  for (const [table, versions] of tables)
    for (const v of versions) for (const [p, s] of tableVersionSchemas(table, v)) out.set(p, s);
  return out;
}
