import { describe, expect, it } from 'vitest';
import { packRow, RowCache, unpackRow, type CachedRow } from './row-cache.js';

const columns = [{ name: 'v', typeOid: 25 }];
const row = (v: string): CachedRow => ({ columns, values: [v] });

describe('RowCache', () => {
  it('evicts the least recently used entries', () => {
    const c = new RowCache(2);
    c.set('a', row('1'));
    c.set('b', row('2'));
    expect(c.get('a')).toEqual(row('1'));
    c.set('c', row('3'));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toEqual(row('1'));
    expect(c.get('c')).toEqual(row('3'));
    expect(c.size).toBe(2);
  });

  it('keeps its estimated bytes under the limit', () => {
    const c = new RowCache(1_000_000, 10_000);
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, row('x'.repeat(100)));
    expect(c.bytes).toBeLessThanOrEqual(10_000);
    expect(c.size).toBeGreaterThan(10);
    expect(c.get('k999')).toBeDefined();
    for (let i = 0; i < 1000; i++) c.delete(`k${i}`);
    expect(c.bytes).toBe(0);
  });

  it('drops a table by prefix', () => {
    const c = new RowCache(10);
    c.set('cdc.fact.public.t.1', row('1'));
    c.set('cdc.fact.public.t.2', row('2'));
    c.set('cdc.fact.public.u.1', row('3'));
    c.deletePrefix('cdc.fact.public.t.');
    expect(c.size).toBe(1);
    expect(c.get('cdc.fact.public.u.1')).toEqual(row('3'));
  });
});

describe('packed entries', () => {
  it('round-trip values, unknowns and empty strings', () => {
    const rows: (string | undefined)[][] = [
      ['1', '"a"', undefined, '""', 'null', '{"x":[1,2]}'],
      [undefined],
      [''],
      ['"é ✓ 𝄞"', undefined, undefined],
    ];
    for (const r of rows) expect(unpackRow(packRow(r)!)).toEqual(r);
  });

  it('keep a row unpacked when a value holds the separator or the unknown mark', () => {
    expect(packRow(['"a\u0001b"'])).toBeNull();
    expect(packRow(['\u0002'])).toBeNull();
    const cache = new RowCache(10);
    const cols = [{ name: 'a', typeOid: 25 }];
    cache.set('s', { columns: cols, values: ['"a\u0001b"'] });
    cache.set('t', { columns: cols, values: [undefined] });
    expect(cache.get('s')!.values).toEqual(['"a\u0001b"']);
    expect(cache.get('t')!.values).toEqual([undefined]);
  });
});
