import { describe, expect, it } from 'vitest';
import { defineUpcasters, upcast, type UpcastableEvent } from './upcasters.js';

// public.orders: v1 (id, note), v2 added currency NOT NULL DEFAULT 'EUR', v3 renamed note → comment.
const upcasters = defineUpcasters({
  'public.orders': {
    1: (row, ctx) => (ctx.partial ? row : { ...row, currency: 'EUR' }),
    2: ({ note, ...row }) => (note === undefined ? row : { ...row, comment: note }),
  },
});

const fact = (schemaVersion: number, row: Record<string, unknown>): UpcastableEvent => ({
  dataschema: `urn:sluice:schema:public.orders:${schemaVersion}`,
  data: { table: 'public.orders', schemaVersion, key: { id: 1 }, row },
});

/** One handler, written for version 3 only. */
function handle(e: UpcastableEvent): string {
  expect(e.data.schemaVersion).toBe(3);
  const r = e.data.row as { id: number; comment: string | null; currency: string };
  return `${r.id}:${r.comment}:${r.currency}`;
}

describe('upcast', () => {
  it.each([
    [1, { id: 1, note: 'a' }, '1:a:EUR'],
    [2, { id: 1, note: 'a', currency: 'USD' }, '1:a:USD'],
    [3, { id: 1, comment: 'a', currency: 'USD' }, '1:a:USD'],
  ])('lets a handler for v3 process a fact of v%d', (v, row, expected) => {
    const input = fact(v, row);
    const before = JSON.stringify(input);
    const out = upcast(upcasters, input);
    expect(handle(out)).toBe(expected);
    expect(out.dataschema).toBe('urn:sluice:schema:public.orders:3');
    expect(JSON.stringify(input)).toBe(before); // the input is left alone
  });

  it('upcasts both sides of a delta as partial rows', () => {
    const out = upcast(upcasters, {
      data: {
        table: 'public.orders',
        schemaVersion: 1,
        key: { id: 1 },
        changes: { note: { old: 'a', new: 'b' } },
      },
    });
    expect(out.data).toEqual({
      table: 'public.orders',
      schemaVersion: 3,
      key: { id: 1 },
      changes: { comment: { old: 'a', new: 'b' } },
    });
  });

  it('leaves tables without upcasters alone', () => {
    const e = { data: { table: 'public.other', schemaVersion: 1, row: { x: 1 } } };
    expect(upcast(upcasters, e)).toBe(e);
  });

  it('refuses a chain with a gap when defined, and events older than the chain when met', () => {
    expect(() => defineUpcasters({ 'public.t': { 1: (r) => r, 3: (r) => r } })).toThrow(
      /no step from version 2/,
    );
    const late = defineUpcasters({ 'public.t': { 2: (r) => r } });
    expect(() => upcast(late, { data: { table: 'public.t', schemaVersion: 1, row: {} } })).toThrow(
      /older than the first upcaster/,
    );
  });
});
