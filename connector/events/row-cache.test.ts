import { describe, expect, it } from 'vitest';
import { RowCache } from './row-cache.js';

describe('RowCache', () => {
  it('evicts the least recently used entry', () => {
    const c = new RowCache(2);
    c.set('a', ['1']);
    c.set('b', ['2']);
    expect(c.get('a')).toEqual(['1']);
    c.set('c', ['3']);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toEqual(['1']);
    expect(c.get('c')).toEqual(['3']);
    expect(c.size).toBe(2);
  });

  it('drops a table by prefix', () => {
    const c = new RowCache(10);
    c.set('cdc.fact.public.t.1', ['1']);
    c.set('cdc.fact.public.t.2', ['2']);
    c.set('cdc.fact.public.u.1', ['3']);
    c.deletePrefix('cdc.fact.public.t.');
    expect(c.size).toBe(1);
    expect(c.get('cdc.fact.public.u.1')).toEqual(['3']);
  });
});
