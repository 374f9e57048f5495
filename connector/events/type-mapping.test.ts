import { describe, expect, it } from 'vitest';
import { SluiceError } from '../errors.js';
import type { PgType } from '../source/type-catalog.js';
import {
  TypeMappingError,
  columnSchema,
  jsonSchemaFor,
  mapText,
  mapperFor,
  type JsonSchema,
} from './type-mapping.js';
import { runtimeBuilder, translateSchema } from '../../schemas/json-schema-to-zod.js';

// Catalog fixtures with the real built-in OIDs; user types get OIDs like a fresh database's.
const builtin = (oid: number, name: string, category = 'U', delim = ','): PgType => ({
  oid,
  schema: 'pg_catalog',
  name,
  kind: 'b',
  category,
  delim,
  element: null,
  base: null,
});
const arrayOf = (oid: number, element: PgType): PgType => ({
  oid,
  schema: element.schema,
  name: `_${element.name}`,
  kind: 'b',
  category: 'A',
  delim: ',',
  element,
  base: null,
});

const bool = builtin(16, 'bool', 'B');
const bytea = builtin(17, 'bytea');
const char = builtin(18, 'char', 'Z');
const name = builtin(19, 'name', 'S');
const int8 = builtin(20, 'int8', 'N');
const int2 = builtin(21, 'int2', 'N');
const int2vector = { ...builtin(22, 'int2vector', 'A'), element: int2 };
const int4 = builtin(23, 'int4', 'N');
const text = builtin(25, 'text', 'S');
const oid = builtin(26, 'oid', 'N');
const oidvector = { ...builtin(30, 'oidvector', 'A'), element: oid };
const json = builtin(114, 'json');
const xml = builtin(142, 'xml');
const point = builtin(600, 'point', 'G');
const lseg = builtin(601, 'lseg', 'G');
const path = builtin(602, 'path', 'G');
const box = builtin(603, 'box', 'G', ';');
const polygon = builtin(604, 'polygon', 'G');
const line = builtin(628, 'line', 'G');
const cidr = builtin(650, 'cidr', 'I');
const float4 = builtin(700, 'float4', 'N');
const float8 = builtin(701, 'float8', 'N');
const circle = builtin(718, 'circle', 'G');
const macaddr8 = builtin(774, 'macaddr8');
const money = builtin(790, 'money', 'N');
const macaddr = builtin(829, 'macaddr');
const inet = builtin(869, 'inet', 'I');
const bpchar = builtin(1042, 'bpchar', 'S');
const varchar = builtin(1043, 'varchar', 'S');
const date = builtin(1082, 'date', 'D');
const time = builtin(1083, 'time', 'D');
const timestamp = builtin(1114, 'timestamp', 'D');
const timestamptz = builtin(1184, 'timestamptz', 'D');
const interval = builtin(1186, 'interval', 'T');
const timetz = builtin(1266, 'timetz', 'D');
const bit = builtin(1560, 'bit', 'V');
const varbit = builtin(1562, 'varbit', 'V');
const numeric = builtin(1700, 'numeric', 'N');
const pgLsn = builtin(3220, 'pg_lsn');
const uuid = builtin(2950, 'uuid');
const tsvector = builtin(3614, 'tsvector');
const tsquery = builtin(3615, 'tsquery');
const jsonb = builtin(3802, 'jsonb');
const int4range: PgType = { ...builtin(3904, 'int4range', 'R'), kind: 'r' };
const tstzrange: PgType = { ...builtin(3910, 'tstzrange', 'R'), kind: 'r' };
const int4multirange: PgType = { ...builtin(4451, 'int4multirange', 'R'), kind: 'm' };

const citext: PgType = { ...builtin(16390, 'citext', 'S'), schema: 'public' };
const hstore: PgType = { ...builtin(16400, 'hstore'), schema: 'public' };
const mood: PgType = { ...builtin(16385, 'mood', 'E'), schema: 'public', kind: 'e' };
const price: PgType = { ...builtin(16388, 'price', 'N'), schema: 'public', kind: 'd', base: numeric };
const pair: PgType = {
  ...builtin(16392, 'pair', 'C'),
  schema: 'public',
  kind: 'c',
  fields: [
    { name: 'a', type: int4 },
    { name: 'b', type: text },
  ],
};
const priceArray = arrayOf(16387, price);
const moodArray = arrayOf(16384, mood);
const pairArray = arrayOf(16391, pair);

type Case = [label: string, type: PgType, pgText: string, expected: unknown];

const scalarCases: Case[] = [
  ['bool true', bool, 't', true],
  ['bool false', bool, 'f', false],
  ['int2 min', int2, '-32768', -32768],
  ['int4', int4, '42', 42],
  ['int4 min', int4, '-2147483648', -2147483648],
  ['oid max', oid, '4294967295', 4294967295],
  ['int8 above 2^53', int8, '9007199254740993', '9007199254740993'],
  ['int8 min', int8, '-9223372036854775808', '-9223372036854775808'],
  [
    'numeric huge',
    numeric,
    '123456789012345678901234567890.123456789',
    '123456789012345678901234567890.123456789',
  ],
  ['numeric trailing zeros kept', numeric, '-1.50', '-1.50'],
  ['numeric zero scale 3', numeric, '0.000', '0.000'],
  ['numeric NaN', numeric, 'NaN', 'NaN'],
  ['numeric Infinity', numeric, 'Infinity', 'Infinity'],
  ['numeric -Infinity', numeric, '-Infinity', '-Infinity'],
  ['money', money, '$1,234.56', '$1,234.56'],
  ['money negative', money, '-$0.01', '-$0.01'],
  ['float8 NaN', float8, 'NaN', 'NaN'],
  ['float8 Infinity', float8, 'Infinity', 'Infinity'],
  ['float8 -Infinity', float8, '-Infinity', '-Infinity'],
  ['float8 -0', float8, '-0', -0],
  ['float8 1e308', float8, '1e+308', 1e308],
  ['float8 max', float8, '1.7976931348623157e+308', 1.7976931348623157e308],
  ['float8 min subnormal', float8, '5e-324', 5e-324],
  ['float8 0.1', float8, '0.1', 0.1],
  ['float8 small exponent', float8, '1e-05', 0.00001],
  ['float8 negative', float8, '-1.5', -1.5],
  ['float4 max', float4, '3.4028235e+38', 3.4028235e38],
  ['float4 NaN', float4, 'NaN', 'NaN'],
  ['float4 -Infinity', float4, '-Infinity', '-Infinity'],
  ['text 4-byte unicode', text, '😀 smile', '😀 smile'],
  ['text control chars', text, 'a\u0001b\tc\nd\u001f', 'a\u0001b\tc\nd\u001f'],
  ['text quotes and backslashes', text, String.raw`say "hi" \ bye`, 'say "hi" \\ bye'],
  ['text line separator', text, 'a\u2028b', 'a\u2028b'],
  ['text empty', text, '', ''],
  ['text spelled NULL', text, 'NULL', 'NULL'],
  ['varchar', varchar, 'héllo', 'héllo'],
  ['bpchar keeps padding', bpchar, 'ab   ', 'ab   '],
  ['name', name, 'pg_class', 'pg_class'],
  ['"char"', char, 'x', 'x'],
  ['citext', citext, 'MiXeD', 'MiXeD'],
  // Big integers inside json are checked on the fragment itself below: JSON.parse would round them.
  ['json keeps whitespace and key order', json, '{ "b": 1,\n  "a": [true, "x"] }', { b: 1, a: [true, 'x'] }],
  [
    'jsonb nested',
    jsonb,
    '{"a": {"b": [1, 2.5, {"c": null}], "d": true}, "s": "😀\\n"}',
    { a: { b: [1, 2.5, { c: null }], d: true }, s: '😀\n' },
  ],
  ['jsonb null', jsonb, 'null', null],
  ['jsonb string', jsonb, '"str"', 'str'],
  ['jsonb empty array', jsonb, '[]', []],
  ['bytea empty', bytea, String.raw`\x`, ''],
  ['bytea binary', bytea, String.raw`\x0102ff`, 'AQL/'],
  ['bytea zero byte', bytea, String.raw`\x00ff`, 'AP8='],
  ['bytea deadbeef', bytea, String.raw`\xdeadbeef`, '3q2+7w=='],
  ['timestamptz micros', timestamptz, '2024-01-02 03:04:05.123456+00', '2024-01-02T03:04:05.123456Z'],
  ['timestamptz no fraction', timestamptz, '2024-01-02 03:04:05+00', '2024-01-02T03:04:05.000000Z'],
  ['timestamptz short fraction', timestamptz, '2024-01-02 03:04:05.5+00', '2024-01-02T03:04:05.500000Z'],
  ['timestamptz first AD', timestamptz, '0001-01-01 00:00:00+00', '0001-01-01T00:00:00.000000Z'],
  ['timestamptz last 4-digit', timestamptz, '9999-12-31 23:59:59.999999+00', '9999-12-31T23:59:59.999999Z'],
  ['timestamptz infinity', timestamptz, 'infinity', 'infinity'],
  ['timestamptz -infinity', timestamptz, '-infinity', '-infinity'],
  ['timestamptz BC', timestamptz, '0044-03-15 12:00:00+00 BC', '0044-03-15 12:00:00+00 BC'],
  ['timestamptz year 10000', timestamptz, '10000-01-01 00:00:00+00', '10000-01-01 00:00:00+00'],
  ['timestamptz +01 offset', timestamptz, '2024-01-01 01:00:00+01', '2024-01-01T00:00:00.000000Z'],
  ['timestamptz -03:30 offset', timestamptz, '2023-12-31 20:30:00.25-03:30', '2024-01-01T00:00:00.250000Z'],
  ['timestamptz LMT offset', timestamptz, '1900-01-01 00:19:32+00:19:32', '1900-01-01T00:00:00.000000Z'],
  ['timestamptz shifted into BC', timestamptz, '0001-01-01 00:30:00+01', '0001-12-31 23:30:00+00 BC'],
  ['timestamptz shifted past 9999', timestamptz, '9999-12-31 23:00:00.5-02', '10000-01-01 01:00:00.5+00'],
  ['timestamptz year 10000 offset', timestamptz, '10000-01-01 00:00:00+01', '10000-01-01 00:00:00+01'],
  ['timestamp half second', timestamp, '2024-01-02 03:04:05.5', '2024-01-02T03:04:05.500000'],
  ['timestamp no fraction', timestamp, '2024-01-02 03:04:05', '2024-01-02T03:04:05.000000'],
  ['timestamp micros', timestamp, '2024-01-02 03:04:05.123456', '2024-01-02T03:04:05.123456'],
  ['timestamp infinity', timestamp, 'infinity', 'infinity'],
  ['timestamp BC', timestamp, '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00 BC'],
  ['timestamp BC fraction', timestamp, '0044-03-15 12:00:00.5 BC', '0044-03-15 12:00:00.5 BC'],
  ['timestamp max year', timestamp, '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999'],
  ['date', date, '2024-01-02', '2024-01-02'],
  ['date infinity', date, 'infinity', 'infinity'],
  ['date -infinity', date, '-infinity', '-infinity'],
  ['date BC', date, '0044-03-15 BC', '0044-03-15 BC'],
  ['date year 10000', date, '10000-01-01', '10000-01-01'],
  ['time', time, '03:04:05.123', '03:04:05.123'],
  ['time 24:00', time, '24:00:00', '24:00:00'],
  ['timetz', timetz, '03:04:05.5+05:30', '03:04:05.5+05:30'],
  ['timetz utc', timetz, '03:04:05+00', '03:04:05+00'],
  ['interval', interval, '1 year 2 mons -3 days +04:05:06.789', '1 year 2 mons -3 days +04:05:06.789'],
  ['interval zero', interval, '00:00:00', '00:00:00'],
  ['uuid', uuid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ['inet with mask', inet, '192.168.0.1/24', '192.168.0.1/24'],
  ['inet host', inet, '10.0.0.1', '10.0.0.1'],
  ['inet v6', inet, '::1', '::1'],
  ['cidr', cidr, '10.0.0.0/8', '10.0.0.0/8'],
  ['cidr v6', cidr, '2001:db8::/32', '2001:db8::/32'],
  ['macaddr', macaddr, '08:00:2b:01:02:03', '08:00:2b:01:02:03'],
  ['macaddr8', macaddr8, '08:00:2b:01:02:03:04:05', '08:00:2b:01:02:03:04:05'],
  ['bit', bit, '1010', '1010'],
  ['varbit empty', varbit, '', ''],
  ['varbit', varbit, '101', '101'],
  ['tsvector', tsvector, "'a' 'cat':3 'fat':2 'it''s'", "'a' 'cat':3 'fat':2 'it''s'"],
  ['tsquery', tsquery, "'fat' & 'rat'", "'fat' & 'rat'"],
  ['xml', xml, '<a href="x">ü &amp; 😀</a>', '<a href="x">ü &amp; 😀</a>'],
  ['int4range', int4range, '[1,10)', '[1,10)'],
  ['int4range empty', int4range, 'empty', 'empty'],
  [
    'tstzrange',
    tstzrange,
    '["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")',
    '["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")',
  ],
  ['int4multirange', int4multirange, '{[1,3),[5,7)}', '{[1,3),[5,7)}'],
  ['int4multirange empty', int4multirange, '{}', '{}'],
  ['point', point, '(1,2)', '(1,2)'],
  ['line', line, '{1,2,3}', '{1,2,3}'],
  ['lseg', lseg, '[(0,0),(1,1)]', '[(0,0),(1,1)]'],
  ['box', box, '(1,1),(0,0)', '(1,1),(0,0)'],
  ['path open', path, '[(0,0),(1,1)]', '[(0,0),(1,1)]'],
  ['polygon', polygon, '((0,0),(1,1),(2,0))', '((0,0),(1,1),(2,0))'],
  ['circle', circle, '<(0,0),1.5>', '<(0,0),1.5>'],
  ['enum', mood, 'happy', 'happy'],
  ['enum odd label', mood, String.raw`so "sad" \ 😀`, 'so "sad" \\ 😀'],
  ['domain over numeric', price, '12.50', '12.50'],
  ['composite', pair, '(1,"a b",)', '(1,"a b",)'],
  ['composite all null', pair, '(,)', '(,)'],
  ['int2vector', int2vector, '1 2', [1, 2]],
  ['int2vector empty', int2vector, '', []],
  ['oidvector', oidvector, '23 25', [23, 25]],
  ['unknown built-in (pg_lsn)', pgLsn, '0/16B3748', '0/16B3748'],
  ['unknown extension (hstore)', hstore, '"a"=>"1", "b"=>NULL', '"a"=>"1", "b"=>NULL'],
];

const arrayCases: Case[] = [
  ['int4[]', arrayOf(1007, int4), '{1,2,3}', [1, 2, 3]],
  ['int4[] empty', arrayOf(1007, int4), '{}', []],
  ['int4[] NULL element', arrayOf(1007, int4), '{NULL}', [null]],
  [
    'int4[][] with NULL',
    arrayOf(1007, int4),
    '{{1,2},{3,NULL}}',
    [
      [1, 2],
      [3, null],
    ],
  ],
  [
    'int4[][][]',
    arrayOf(1007, int4),
    '{{{1},{2}},{{3},{4}}}',
    [
      [[1], [2]],
      [[3], [4]],
    ],
  ],
  ['int4[] with bounds', arrayOf(1007, int4), '[0:1]={1,2}', [1, 2]],
  [
    'int4[][] with bounds',
    arrayOf(1007, int4),
    '[0:1][2:3]={{1,2},{3,4}}',
    [
      [1, 2],
      [3, 4],
    ],
  ],
  [
    'text[] quoting',
    arrayOf(1009, text),
    String.raw`{"a,b","c\"d","e\\f","{g}","NULL",NULL,""," sp","null",plain}`,
    ['a,b', 'c"d', 'e\\f', '{g}', 'NULL', null, '', ' sp', 'null', 'plain'],
  ],
  ['text[] unicode and tab', arrayOf(1009, text), '{😀,"tab\there"}', ['😀', 'tab\there']],
  [
    'text[][] quoted',
    arrayOf(1009, text),
    '{{"a b",c},{"}",NULL}}',
    [
      ['a b', 'c'],
      ['}', null],
    ],
  ],
  ['int8[]', arrayOf(1016, int8), '{9007199254740993,-1}', ['9007199254740993', '-1']],
  [
    'jsonb[]',
    arrayOf(3807, jsonb),
    String.raw`{"{\"a\": 1}","null","\"x\"",NULL,"[1, {\"b\": \"}\"}]"}`,
    [{ a: 1 }, null, 'x', null, [1, { b: '}' }]],
  ],
  ['enum[]', moodArray, String.raw`{happy,"so \"sad\"",NULL}`, ['happy', 'so "sad"', null]],
  ['box[] uses ;', arrayOf(1020, box), '{(1,1),(0,0);(2,2),(1,1)}', ['(1,1),(0,0)', '(2,2),(1,1)']],
  [
    'float8[] specials',
    arrayOf(1022, float8),
    '{NaN,Infinity,-Infinity,-0,1.5,1e+308}',
    ['NaN', 'Infinity', '-Infinity', -0, 1.5, 1e308],
  ],
  ['numeric[]', arrayOf(1231, numeric), '{1.10,NaN,NULL}', ['1.10', 'NaN', null]],
  [
    'timestamptz[]',
    arrayOf(1185, timestamptz),
    '{"2024-01-02 03:04:05+00",infinity}',
    ['2024-01-02T03:04:05.000000Z', 'infinity'],
  ],
  ['bytea[]', arrayOf(1001, bytea), String.raw`{"\\x0102ff","\\x"}`, ['AQL/', '']],
  ['bool[]', arrayOf(1000, bool), '{t,f,NULL}', [true, false, null]],
  ['composite[]', pairArray, String.raw`{"(1,\"a b\")",NULL}`, ['(1,"a b")', null]],
  ['domain[]', priceArray, '{1.00,NULL}', ['1.00', null]],
  ['int2vector[]', arrayOf(1006, int2vector), '{"1 2","3"}', [[1, 2], [3]]],
];

describe('mapperFor', () => {
  it.each(scalarCases)('%s', (_label, type, pgText, expected) => {
    const fragment = mapperFor(type)(pgText);
    expect(JSON.parse(fragment)).toEqual(expected);
  });

  it.each(arrayCases)('%s', (_label, type, pgText, expected) => {
    const fragment = mapperFor(type)(pgText);
    expect(JSON.parse(fragment)).toEqual(expected);
  });

  // Exactness that JSON.parse would hide: the fragment itself must carry every digit.
  it.each([
    ['json big integer', json, '{"n": 12345678901234567890}', '{"n": 12345678901234567890}'],
    ['jsonb deep big number', jsonb, '[1.000000000000000000001]', '[1.000000000000000000001]'],
    [
      'jsonb[] big integer',
      arrayOf(3807, jsonb),
      String.raw`{"{\"b\": 12345678901234567890}",NULL}`,
      '[{"b": 12345678901234567890},null]',
    ],
    ['int8', int8, '9007199254740993', '"9007199254740993"'],
    ['int8[]', arrayOf(1016, int8), '{1,9007199254740993}', '["1","9007199254740993"]'],
    ['numeric', numeric, '0.30000000000000000001', '"0.30000000000000000001"'],
    ['float8 -0', float8, '-0', '-0'],
    ['int4', int4, '42', '42'],
    ['text control chars escaped', text, 'a\u0001\u007f"', '"a\\u0001\u007f\\""'],
    ['timestamptz', timestamptz, '2024-01-02 03:04:05.123456+00', '"2024-01-02T03:04:05.123456Z"'],
  ] satisfies [string, PgType, string, string][])('%s is exact', (_label, type, pgText, fragment) => {
    expect(mapperFor(type)(pgText)).toBe(fragment);
  });

  it.each([
    ['bool spelled out', bool, 'true'],
    ['bytea escape format', bytea, 'abc'],
    ['bytea odd digits', bytea, String.raw`\x012`],
    ['timestamptz DateStyle=Postgres', timestamptz, 'Tue Jan 02 03:04:05 2024 UTC'],
    ['timestamp DateStyle=SQL', timestamp, '01/02/2024 03:04:05'],
    ['array unterminated', arrayOf(1007, int4), '{1,2'],
    ['array without braces', arrayOf(1007, int4), '1,2'],
    ['array trailing garbage', arrayOf(1007, int4), '{1,2}x'],
    ['array empty element', arrayOf(1007, int4), '{1,,2}'],
    ['array unterminated quote', arrayOf(1009, text), '{"abc}'],
    ['array bounds without =', arrayOf(1007, int4), '[0:1]'],
    ['array deeper than 6', arrayOf(1007, int4), '{{{{{{{1}}}}}}}'],
  ] satisfies [string, PgType, string][])('rejects %s', (_label, type, pgText) => {
    const error = (() => {
      try {
        mapperFor(type)(pgText);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TypeMappingError);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: 'PROTOCOL', pgType: `${type.schema}.${type.name}` });
  });

  it('compiles once per type', () => {
    expect(mapperFor(int4)).toBe(mapperFor(int4));
  });

  it.each([
    [int4, null, 'null'],
    [jsonb, null, 'null'],
    [int8, '7', '"7"'],
  ] satisfies [PgType, string | null, string][])('mapText(%o, %s)', (type, pgText, fragment) => {
    expect(mapText(type, pgText)).toBe(fragment);
  });
});

describe('jsonSchemaFor', () => {
  it.each([
    [bool, { type: 'boolean', 'x-pg-type': 'pg_catalog.bool' }],
    [int2, { type: 'integer', 'x-pg-type': 'pg_catalog.int2', minimum: -32768, maximum: 32767 }],
    [int4, { type: 'integer', 'x-pg-type': 'pg_catalog.int4', minimum: -2147483648, maximum: 2147483647 }],
    [oid, { type: 'integer', 'x-pg-type': 'pg_catalog.oid', minimum: 0, maximum: 4294967295 }],
    [int8, { type: 'string', 'x-pg-type': 'pg_catalog.int8', pattern: '^-?[0-9]+$' }],
    [float8, { type: ['number', 'string'], 'x-pg-type': 'pg_catalog.float8', pattern: '^(NaN|-?Infinity)$' }],
    [bytea, { type: 'string', 'x-pg-type': 'pg_catalog.bytea', contentEncoding: 'base64' }],
    [uuid, { type: 'string', 'x-pg-type': 'pg_catalog.uuid', format: 'uuid' }],
    [text, { type: 'string', 'x-pg-type': 'pg_catalog.text' }],
    [mood, { type: 'string', 'x-pg-type': 'public.mood', description: 'Enum label' }],
    [citext, { type: 'string', 'x-pg-type': 'public.citext' }],
    [int2vector, { type: 'array', 'x-pg-type': 'pg_catalog.int2vector', items: { type: 'integer' } }],
  ] satisfies [PgType, JsonSchema][])('%o', (type, expected) => {
    expect(jsonSchemaFor(type)).toMatchObject(expected);
  });

  it('json/jsonb admit any JSON value', () => {
    const schema = jsonSchemaFor(jsonb);
    expect(schema).not.toHaveProperty('type');
    expect(schema['x-pg-type']).toBe('pg_catalog.jsonb');
  });

  it('timestamptz is date-time or PostgreSQL text outside RFC 3339', () => {
    expect(jsonSchemaFor(timestamptz)).toMatchObject({
      type: 'string',
      'x-pg-type': 'pg_catalog.timestamptz',
      anyOf: [{ format: 'date-time' }, {}],
    });
  });

  it('a domain has its base type schema under its own name', () => {
    const schema = jsonSchemaFor(price);
    expect(schema).toMatchObject({ type: 'string', 'x-pg-type': 'public.price' });
    expect(schema.pattern).toBe(jsonSchemaFor(numeric).pattern);
    expect(schema.description).toMatch(/^Domain over pg_catalog\.numeric/);
  });

  it('a composite lists its fields', () => {
    expect(jsonSchemaFor(pair).description).toContain('a pg_catalog.int4, b pg_catalog.text');
  });

  it('an array nests its nullable element schema up to 6 levels', () => {
    const schema = jsonSchemaFor(arrayOf(1007, int4));
    expect(schema).toMatchObject({ type: 'array', 'x-pg-type': 'pg_catalog._int4' });
    let level = schema;
    for (let depth = 1; depth < 6; depth++) {
      const items = level.items as { anyOf: JsonSchema[] };
      expect(items.anyOf[0]).toMatchObject({ type: ['integer', 'null'], 'x-pg-type': 'pg_catalog.int4' });
      level = items.anyOf[1] as JsonSchema;
      expect(level.type).toBe('array');
    }
    expect(level.items).toMatchObject({ type: ['integer', 'null'] });
  });

  it('returns a fresh object each time', () => {
    const first = jsonSchemaFor(int8);
    first.pattern = 'changed';
    expect(jsonSchemaFor(int8).pattern).toBe('^-?[0-9]+$');
  });
});

describe('columnSchema', () => {
  it.each([
    [int4, false, 'integer'],
    [int4, true, ['integer', 'null']],
    [float8, true, ['number', 'string', 'null']],
    [arrayOf(1007, int4), true, ['array', 'null']],
    [price, true, ['string', 'null']],
  ] satisfies [PgType, boolean, unknown][])('%o nullable=%s', (type, nullable, expected) => {
    expect(columnSchema(type, nullable).type).toEqual(expected);
  });

  it('json stays unconstrained (JSON null is a value)', () => {
    expect(columnSchema(json, true)).toEqual(columnSchema(json, false));
  });

  // Every mapped value above must satisfy the schema the registry publishes for its type.
  it.each([...scalarCases, ...arrayCases])('%s conforms', (_label, type, pgText) => {
    const value: unknown = JSON.parse(mapperFor(type)(pgText));
    expect(violations(columnSchema(type, false), value)).toEqual([]);
    expect(violations(columnSchema(type, true), null)).toEqual([]);
  });

  // The zod translation (validation setting, codegen) accepts exactly what the JSON Schema does.
  it.each([...scalarCases, ...arrayCases])('%s conforms to the zod translation', (_label, type, pgText) => {
    const value: unknown = JSON.parse(mapperFor(type)(pgText));
    expect(translateSchema(columnSchema(type, false), runtimeBuilder).safeParse(value).error).toBeUndefined();
    expect(translateSchema(columnSchema(type, true), runtimeBuilder).safeParse(null).success).toBe(true);
  });

  it.each([
    ['int8 as a number', int8, 1],
    ['float8 lower-case nan', float8, 'nan'],
    ['timestamptz in PostgreSQL text', timestamptz, '2024-01-02 03:04:05+00'],
    ['timestamptz with milliseconds', timestamptz, '2024-01-02T03:04:05.123Z'],
    ['timestamp without fraction', timestamp, '2024-01-02 03:04:05'],
    ['date unpadded', date, '2024-1-2'],
    ['int4[] with a string', arrayOf(1007, int4), [[1], ['x']]],
    ['int4 null', int4, null],
    ['int2 out of range', int2, 40000],
  ])('the zod translation rejects %s', (_label, type, value) => {
    expect(translateSchema(columnSchema(type, false), runtimeBuilder).safeParse(value).success).toBe(false);
    expect(violations(columnSchema(type, false), value)).not.toEqual([]);
  });

  it('the checker itself rejects mismatches', () => {
    expect(violations(columnSchema(int8, false), 1)).not.toEqual([]);
    expect(violations(columnSchema(float8, false), 'nan')).not.toEqual([]);
    expect(violations(columnSchema(timestamptz, false), '2024-01-02 03:04:05+00')).not.toEqual([]);
    expect(violations(columnSchema(timestamptz, false), '2024-01-02T03:04:05.123Z')).not.toEqual([]);
    expect(violations(columnSchema(timestamp, false), '2024-01-02 03:04:05')).not.toEqual([]);
    expect(violations(columnSchema(date, false), '2024-1-2')).not.toEqual([]);
    expect(violations(columnSchema(arrayOf(1007, int4), false), [[1], ['x']])).not.toEqual([]);
    expect(violations(columnSchema(int4, false), null)).not.toEqual([]);
  });
});

/**
 * The subset of JSON Schema 2020-12 these schemas use (type, pattern, minimum, maximum, items,
 * anyOf); `format` is an annotation by default in 2020-12, so it is not asserted.
 */
function violations(schema: JsonSchema, value: unknown, at = '$'): string[] {
  const out: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => isOfType(t, value))) out.push(`${at}: not ${types.join('|')}`);
  }
  if (typeof value === 'string' && typeof schema.pattern === 'string') {
    if (!new RegExp(schema.pattern, 'u').test(value)) out.push(`${at}: does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) out.push(`${at}: below minimum`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) out.push(`${at}: above maximum`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => out.push(...violations(schema.items as JsonSchema, item, `${at}[${i}]`)));
  }
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf as JsonSchema[];
    if (!branches.some((branch) => violations(branch, value, at).length === 0))
      out.push(`${at}: matches no anyOf`);
  }
  return out;
}

function isOfType(type: string, value: unknown): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    default:
      return typeof value === type;
  }
}
