import { describe, expect, it } from 'vitest';
import type { TableInfo } from '../ports.js';
import { chunkRows, chunkSelect, keyNamesLiteral } from './table-reader.js';

/** A table `s.t` with columns id, "we""ird" and v, keyed on the first two. */
const T = {
  schema: 's',
  table: 't',
  columns: [
    { name: 'id', mapper: (v: string) => v },
    { name: 'we"ird', mapper: (v: string) => JSON.stringify(v) },
    { name: 'v', mapper: (v: string) => `[${v}]` },
  ],
  keyIdx: [0, 1],
} as unknown as TableInfo;

describe('chunk reads', () => {
  it('selects the first chunk in identity order', () => {
    expect(chunkSelect(T, ['integer', 'text'], false, 100)).toBe(
      'SELECT t."id", t."we""ird", t."v" FROM "s"."t" t  ORDER BY t."id", t."we""ird" LIMIT 100',
    );
  });

  it('selects the next chunk after the last key, cast to the key types', () => {
    expect(chunkSelect(T, ['integer', 'text'], true, 5)).toBe(
      'SELECT t."id", t."we""ird", t."v" FROM "s"."t" t WHERE (t."id", t."we""ird") > ($1::integer, $2::text) ORDER BY t."id", t."we""ird" LIMIT 5',
    );
  });

  it('names the key columns as a text array literal', () => {
    expect(keyNamesLiteral(T)).toBe('{"id","we\\"ird"}');
  });

  it('maps values to JSON fragments, NULL to null, and keeps the last raw key', () => {
    expect(
      chunkRows(T, [
        ['1', 'a', null],
        ['2', 'b', '7'],
      ]),
    ).toEqual({
      rows: [
        ['1', '"a"', 'null'],
        ['2', '"b"', '[7]'],
      ],
      lastKey: ['2', 'b'],
    });
    expect(chunkRows(T, [])).toEqual({ rows: [], lastKey: null });
  });
});
