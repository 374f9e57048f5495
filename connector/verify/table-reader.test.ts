import { describe, expect, it } from 'vitest';
import type { PgType } from '../source/type-catalog.js';
import { keyInputText } from './table-reader.js';

const base = (name: string, category = 'U'): PgType => ({
  oid: 0,
  schema: 'pg_catalog',
  name,
  kind: 'b',
  category,
  delim: ',',
  element: null,
  base: null,
});
const arrayOf = (element: PgType): PgType => ({ ...base('_' + element.name, 'A'), element });
const domainOver = (t: PgType): PgType => ({ ...base('d'), schema: 'public', kind: 'd', base: t });

describe('keyInputText: a fact key value back to PostgreSQL input text', () => {
  it.each<[string, string, PgType, string | null]>([
    ['int4 as a JSON number', '42', base('int4'), '42'],
    ['int8 as a JSON string', '"9223372036854775807"', base('int8'), '9223372036854775807'],
    ['numeric keeps its digits', '"1.500"', base('numeric'), '1.500'],
    ['bool', 'true', base('bool'), 'true'],
    ['text with quotes and dots', '"a.b \\"c\\""', base('text'), 'a.b "c"'],
    ['uuid', '"a8e52239-028c-4345-823d-5ba647d78cc4"', base('uuid'), 'a8e52239-028c-4345-823d-5ba647d78cc4'],
    [
      'timestamptz in ISO form',
      '"2026-01-02T03:04:05.123456Z"',
      base('timestamptz'),
      '2026-01-02T03:04:05.123456Z',
    ],
    ['bytea from base64 to hex', '"3q2+7w=="', base('bytea'), '\\xdeadbeef'],
    ['jsonb as its JSON text', '{"a":[1,2]}', base('jsonb'), '{"a":[1,2]}'],
    ['a domain over int8', '"7"', domainOver(base('int8')), '7'],
    ['an int4 array', '[1,null,3]', arrayOf(base('int4')), '{"1",NULL,"3"}'],
    ['a text array with quotes', '["a\\"b","c\\\\d"]', arrayOf(base('text')), '{"a\\"b","c\\\\d"}'],
    ['a two-dimensional array', '[[1,2],[3,4]]', arrayOf(base('int4')), '{{"1","2"},{"3","4"}}'],
    ['JSON null', 'null', base('int4'), null],
    ['an object for a scalar type', '{"a":1}', base('int4'), null],
  ])('%s', (_name, json, type, text) => {
    expect(keyInputText(json, type)).toBe(text);
  });
});
