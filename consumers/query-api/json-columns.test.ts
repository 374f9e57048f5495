import { describe, expect, it } from 'vitest';
import { columnJsonSchema, jsonExpression, rowJsonExpression, type ModelColumn } from './json-columns.js';

const col = (typname: string, elem: string | null = null, name = 'c'): ModelColumn => ({
  name,
  sqlType: typname,
  typname,
  elemTypname: elem,
});

describe('jsonExpression', () => {
  it.each([
    ['int4', null, 'to_json(x)'],
    ['bool', null, 'to_json(x)'],
    ['jsonb', null, 'to_json(x)'],
    ['int8', null, 'to_json(x::text)'],
    ['numeric', null, 'to_json(x::text)'],
    ['date', null, 'to_json(x::text)'],
    ['text', null, 'to_json(x)'],
    ['_int4', 'int4', 'to_json(x)'],
    ['_int8', 'int8', 'to_json(x::text[])'],
    ['_numeric', 'numeric', 'to_json(x::text[])'],
    ['_text', 'text', 'to_json(x)'],
  ])('%s maps with %s', (t, elem, expected) => {
    expect(jsonExpression(col(t, elem), 'x')).toBe(expected);
  });

  it('prints timestamptz in UTC with 6 fractional digits, other values as PostgreSQL text', () => {
    const e = jsonExpression(col('timestamptz'), 'x');
    expect(e).toContain(`AT TIME ZONE 'UTC'`);
    expect(e).toContain('HH24:MI:SS.US"Z"');
    expect(e).toContain('ELSE to_json(x::text)');
  });

  it('builds a row object in column order, quoting names and NULL as null', () => {
    const sql = rowJsonExpression([col('int8', null, 'id'), col('text', null, `it's`)], 'r');
    expect(sql).toBe(
      `('{"id":' || coalesce((to_json(r."id"::text))::text, 'null') || ',"it''s":' || coalesce((to_json(r."it's"))::text, 'null') || '}')`,
    );
  });
});

describe('columnJsonSchema', () => {
  it.each([
    ['int4', null, false, { type: 'integer' }],
    ['int8', null, true, { type: ['string', 'null'], pattern: '^-?[0-9]+$' }],
    ['float8', null, false, { type: ['number', 'string'] }],
    ['jsonb', null, true, {}],
    ['_int8', 'int8', false, { type: 'array', items: { type: 'string', pattern: '^-?[0-9]+$' } }],
  ])('%s (nullable %s)', (t, elem, nullable, expected) => {
    expect(columnJsonSchema(col(t, elem), nullable)).toMatchObject(expected);
  });
});
