import { describe, expect, it } from 'vitest';
import {
  changedRowsSql,
  columnType,
  createTableSql,
  jsonValueSql,
  replicaTableFrom,
  type StoredSchemaVersion,
} from './replica-table.js';

describe('columnType', () => {
  it.each([
    ['pg_catalog.int8', undefined, 'int8', 'scalar'],
    ['pg_catalog.numeric', undefined, 'numeric', 'scalar'],
    ['pg_catalog.timestamptz', undefined, 'timestamptz', 'scalar'],
    ['pg_catalog.bpchar', undefined, 'bpchar', 'scalar'],
    ['pg_catalog.char', undefined, 'text', 'scalar'],
    ['pg_catalog.uuid', undefined, 'uuid', 'scalar'],
    ['pg_catalog.jsonb', undefined, 'jsonb', 'jsonb'],
    ['pg_catalog.json', undefined, 'json', 'json'],
    ['pg_catalog.bytea', undefined, 'bytea', 'bytea'],
    ['pg_catalog._text', undefined, 'text[]', 'array'],
    ['pg_catalog._int4', undefined, 'int4[]', 'array'],
    ['pg_catalog._int4range', undefined, 'text[]', 'array'],
    ['pg_catalog.int4range', undefined, 'text', 'scalar'],
    ['public.order_status', 'Enum label', 'text', 'scalar'],
    ['public.positive_int', 'Domain over pg_catalog.int4: 32-bit integer', 'int4', 'scalar'],
    ['public.citext', "PostgreSQL's text form", 'text', 'scalar'],
  ])('%s → %s', (pgType, description, type, kind) => {
    expect(columnType(pgType, description)).toEqual({ type, kind });
  });
});

const ORDER_ITEMS: StoredSchemaVersion[] = [
  {
    version: 1,
    since: '0',
    schema: {
      properties: {
        order_id: { 'x-pg-type': 'pg_catalog.int8' },
        line_no: { 'x-pg-type': 'pg_catalog.int2' },
        tags: { 'x-pg-type': 'pg_catalog._text' },
      },
      required: ['order_id', 'line_no', 'tags'],
      'x-key': ['order_id', 'line_no'],
    },
  },
];

describe('replica tables', () => {
  it('takes the newest layout and the key from the registry', () => {
    const t = replicaTableFrom('public', 'order_items', [
      { ...ORDER_ITEMS[0]!, schema: { ...ORDER_ITEMS[0]!.schema, required: ['order_id'] } },
      // As the registry writes it: `required` names the key columns only.
      {
        ...ORDER_ITEMS[0]!,
        version: 2,
        schema: { ...ORDER_ITEMS[0]!.schema, required: ['order_id', 'line_no'] },
      },
    ])!;
    expect(t.schemaVersion).toBe(2);
    expect(t.columns.map((c) => `${c.name} ${c.type}`)).toEqual([
      'order_id int8',
      'line_no int2',
      'tags text[]',
    ]);
    expect(createTableSql(t)).toBe(
      'CREATE TABLE IF NOT EXISTS "public"."order_items" (\n  "order_id" int8,\n  "line_no" int2,\n  "tags" text[],\n  "_sluice_version" text NOT NULL,\n  PRIMARY KEY ("order_id", "line_no")\n)',
    );
    expect(changedRowsSql(t, 1)).toBe(
      `(SELECT * FROM "public"."order_items" WHERE ("order_id", "line_no") IN (SELECT (e->>'order_id')::int8, (e->>'line_no')::int2 FROM jsonb_array_elements($1::jsonb) e))`,
    );
  });

  it('has no replica for a table without a key or without layouts', () => {
    const noKey = { ...ORDER_ITEMS[0]!, schema: { ...ORDER_ITEMS[0]!.schema, 'x-key': [] } };
    expect(replicaTableFrom('public', 'audit_log', [noKey])).toBeNull();
    expect(replicaTableFrom('public', 'x', [])).toBeNull();
  });

  it.each([
    [{ name: 'n', type: 'text', kind: 'scalar' as const }, `e->>'n'`],
    [{ name: 'n', type: 'int8', kind: 'scalar' as const }, `(e->>'n')::int8`],
    [{ name: "it's", type: 'jsonb', kind: 'jsonb' as const }, `nullif(e->'it''s', 'null'::jsonb)`],
    [{ name: 'b', type: 'bytea', kind: 'bytea' as const }, `decode(e->>'b', 'base64')`],
    [
      { name: 'a', type: 'text[]', kind: 'array' as const },
      `CASE WHEN jsonb_typeof(e->'a') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(e->'a'))::text[] END`,
    ],
  ])('reads %j from a fact row as %s', (column, sql) => {
    expect(jsonValueSql(column)).toBe(sql);
  });
});
