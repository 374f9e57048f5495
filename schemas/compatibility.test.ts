import { describe, expect, it } from 'vitest';
import { diffVersions } from './compatibility.js';
import type { ColumnShape, StoredSchemaVersion } from './registry.js';

const col = (name: string, type: string, attnum: number, extra: Partial<ColumnShape> = {}): ColumnShape => ({
  name,
  type: `pg_catalog.${type}`,
  typeOid: { int4: 23, int8: 20, text: 25, varchar: 1043 }[type] ?? 1,
  typeMod: -1,
  nullable: true,
  attnum,
  ...extra,
});
const json: Record<string, object> = {
  int4: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
  int8: { type: 'string', pattern: '^-?[0-9]+$' },
  text: { type: 'string' },
  varchar: { type: 'string' },
};
const version = (v: number, columns: ColumnShape[], key = ['id']): StoredSchemaVersion => ({
  version: v,
  fingerprint: String(v),
  since: '0',
  position: null,
  table: 'public.orders',
  columns,
  key,
  schema: {
    properties: Object.fromEntries(
      columns.map((c) => {
        const base = json[c.type.slice('pg_catalog.'.length)]! as { type: string };
        return [c.name, { ...base, type: c.nullable ? [base.type, 'null'] : base.type, 'x-pg-type': c.type }];
      }),
    ),
  },
});

const id = col('id', 'int4', 1, { nullable: false });
const note = col('note', 'text', 2);
const v1 = version(1, [id, note]);

describe('diffVersions', () => {
  it.each([
    ['an added nullable column', [id, note, col('extra', 'text', 3)], 'added', false],
    [
      'an added NOT NULL column with a default',
      [id, note, col('status', 'text', 3, { nullable: false, hasDefault: true })],
      'added',
      false,
    ],
    [
      'an added NOT NULL column without a default',
      [id, note, col('status', 'text', 3, { nullable: false, hasDefault: false })],
      'added',
      true,
    ],
    ['a dropped column', [id], 'dropped', true],
    ['a renamed column', [id, col('comment', 'text', 2)], 'renamed', true],
    [
      'a retyped column whose JSON form changes',
      [col('id', 'int8', 1, { nullable: false }), note],
      'retyped',
      true,
    ],
    ['a retyped column with the same JSON form', [id, col('note', 'varchar', 2)], 'retyped', false],
    ['a column that may now be null', [col('id', 'int4', 1), note], 'nullability', true],
    [
      'a column that became NOT NULL',
      [id, col('note', 'text', 2, { nullable: false })],
      'nullability',
      false,
    ],
  ] as const)('%s', (_label, columns, kind, breaking) => {
    const d = diffVersions(v1, version(2, [...columns]));
    expect(d.changes.map((c) => [c.kind, c.breaking])).toEqual([[kind, breaking]]);
    expect(d.compatible).toBe(!breaking);
    expect(d.changes[0]!.reason).toMatch(/\w/);
  });

  it('tells a drop plus an add from a rename by attnum', () => {
    const d = diffVersions(v1, version(2, [id, col('comment', 'text', 3)]));
    expect(d.changes.map((c) => [c.kind, c.column])).toEqual([
      ['dropped', 'note'],
      ['added', 'comment'],
    ]);
  });

  // Versions recorded while the stream lagged behind later DDL have no attnums: by position.
  const bare = (cs: ColumnShape[]) => cs.map(({ attnum: _, ...c }) => c);
  const amount = col('amount', 'int4', 3);
  it.each([
    ['a rename between surviving columns', [id, col('remark', 'text', 9), amount], [['renamed', 'remark']]],
    ['a drop in the middle', [id, amount], [['dropped', 'note']]],
    ['an add at the end', [id, note, amount, col('x', 'text', 9)], [['added', 'x']]],
    ['a rename at the end (same type)', [id, note, col('total', 'int4', 9)], [['renamed', 'total']]],
    [
      'a drop and an add at the end (another type)',
      [id, note, col('total', 'text', 9)],
      [
        ['dropped', 'amount'],
        ['added', 'total'],
      ],
    ],
    [
      'a rename and an add',
      [id, col('remark', 'text', 9), amount, col('x', 'int4', 10)],
      [
        ['renamed', 'remark'],
        ['added', 'x'],
      ],
    ],
  ])('without attnums: %s', (_label, columns, expected) => {
    const d = diffVersions(version(1, bare([id, note, amount])), version(2, bare(columns)));
    expect(d.changes.map((c) => [c.kind, c.column])).toEqual(expected);
  });

  it('a changed key is breaking', () => {
    const d = diffVersions(v1, version(2, [id, note], ['id', 'note']));
    expect(d.changes.map((c) => c.kind)).toEqual(['key']);
    expect(d.compatible).toBe(false);
  });

  it('no change is compatible', () => {
    expect(diffVersions(v1, version(2, [id, note]))).toMatchObject({
      changes: [],
      compatible: true,
      from: 1,
      to: 2,
    });
  });
});
