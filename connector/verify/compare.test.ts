import { describe, expect, it } from 'vitest';
import { compareRow, isLive, parseFact, type FactState, type Verdict } from './compare.js';

const row = (o: Record<string, string>) => new Map(Object.entries(o));

const fact = (
  o: { deleted?: boolean; version?: string; row?: Record<string, string> | null } = {},
): FactState => ({
  deleted: o.deleted ?? false,
  version: o.version ?? '0000000001000000-00000000',
  row: o.row === null ? null : row(o.row ?? { id: '1', v: '"a"' }),
  key: row({ id: '1' }),
  isReference: false,
});

describe('parseFact', () => {
  it('reads deleted, version, row and key as JSON texts, exactly', () => {
    const text =
      '{"specversion":"1.0","id":"s:1:fact","data":{"table":"public.t","key":{"id":"12345678901234567890"},"op":"update",' +
      '"deleted":false,"row":{"id":"12345678901234567890","j":{"n":123456789012345678901234},"b":true,"c":"ab  "},' +
      '"version":"0000000001000000-00000002","schemaVersion":1,"tx":{"id":7,"lsn":"0/1000000","commitTime":"t","seq":2}}}';
    const f = parseFact(text);
    expect(f.deleted).toBe(false);
    expect(f.version).toBe('0000000001000000-00000002');
    expect(f.isReference).toBe(false);
    expect([...f.key!]).toEqual([['id', '"12345678901234567890"']]);
    expect(f.row!.get('j')).toBe('{"n":123456789012345678901234}');
    expect(f.row!.get('b')).toBe('true');
    expect(f.row!.get('c')).toBe('"ab  "');
  });

  it.each([
    [
      'a delete',
      '{"data":{"key":{"id":1},"deleted":true,"row":{"id":1},"version":"0000000001000000-00000000"}}',
      true,
      true,
    ],
    [
      'a truncate marker',
      '{"data":{"key":{},"deleted":true,"row":null,"version":"0000000001000000-00000000"}}',
      true,
      false,
    ],
    [
      'a reference event',
      '{"data":{"key":{"id":1},"deleted":false,"row":null,"version":"0000000001000000-00000000","dataref":{"store":"CDC_LARGE","name":"x","bytes":9}}}',
      false,
      false,
    ],
  ])('reads %s', (_name, text, deleted, hasRow) => {
    const f = parseFact(text);
    expect(f.deleted).toBe(deleted);
    expect(f.row !== null).toBe(hasRow);
    expect(f.isReference).toBe(text.includes('dataref'));
  });

  it.each([['{"data":{"deleted":false}}'], ['{"nodata":1}'], ['not json']])('refuses %s', (text) => {
    expect(() => parseFact(text)).toThrow(SyntaxError);
  });
});

describe('isLive', () => {
  it.each([
    ['no fact', null, null, false],
    ['a live fact', fact(), null, true],
    ['a deleted fact', fact({ deleted: true }), null, false],
    [
      'a fact older than the TRUNCATE marker',
      fact({ version: '0000000001000000-00000000' }),
      '0000000002000000-00000000',
      false,
    ],
    [
      'a fact newer than the TRUNCATE marker',
      fact({ version: '0000000003000000-00000000' }),
      '0000000002000000-00000000',
      true,
    ],
  ])('%s', (_name, f, truncatedAt, live) => {
    expect(isLive(f, truncatedAt)).toBe(live);
  });
});

describe('compareRow', () => {
  const r = row({ id: '1', v: '"a"' });
  it.each<[string, Map<string, string> | null, FactState | null, string | null, Verdict]>([
    ['equal row and fact', r, fact(), null, { kind: 'match' }],
    ['no row and no fact', null, null, null, { kind: 'match' }],
    ['no row and a deleted fact', null, fact({ deleted: true }), null, { kind: 'match' }],
    ['no row and a truncated fact', null, fact(), '0000000009000000-00000000', { kind: 'match' }],
    ['a row without a fact', r, null, null, { kind: 'missing-in-facts' }],
    ['a row whose fact is deleted', r, fact({ deleted: true }), null, { kind: 'missing-in-facts' }],
    [
      'a row whose fact is below the TRUNCATE marker',
      r,
      fact(),
      '0000000009000000-00000000',
      { kind: 'missing-in-facts' },
    ],
    ['a live fact without a row', null, fact(), null, { kind: 'missing-in-table' }],
    [
      'a value that differs',
      r,
      fact({ row: { id: '1', v: '"b"' } }),
      null,
      { kind: 'different', columns: [{ column: 'v', table: '"a"', fact: '"b"' }] },
    ],
    [
      'the same value in another JSON form (bool as a string)',
      row({ id: '1', b: 'true' }),
      fact({ row: { id: '1', b: '"true"' } }),
      null,
      { kind: 'different', columns: [{ column: 'b', table: 'true', fact: '"true"' }] },
    ],
    [
      'a column the fact lacks and one only the fact has',
      row({ id: '1', v: '"a"', added: 'null' }),
      fact({ row: { id: '1', v: '"a"', dropped: '7' } }),
      null,
      {
        kind: 'different',
        columns: [
          { column: 'added', table: 'null', fact: null },
          { column: 'dropped', table: null, fact: '7' },
        ],
      },
    ],
    [
      'a live fact without its row body (unresolved reference)',
      r,
      fact({ row: null }),
      null,
      {
        kind: 'different',
        columns: [
          { column: 'id', table: '1', fact: null },
          { column: 'v', table: '"a"', fact: null },
        ],
      },
    ],
  ])('%s', (_name, tableRow, f, truncatedAt, verdict) => {
    expect(compareRow(tableRow, f, truncatedAt)).toEqual(verdict);
  });
});
