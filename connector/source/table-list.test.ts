/** The configured table patterns. */
import { describe, expect, it } from 'vitest';
import { globToRegExp } from './table-list.js';

describe('table patterns', () => {
  it('matches schema.table, a star within one name part', () => {
    const m = globToRegExp('public.*');
    expect(m.test('public.orders')).toBe(true);
    expect(m.test('publicXorders')).toBe(false);
    expect(m.test('other.orders')).toBe(false);
    expect(globToRegExp('*.order_items').test('shop.order_items')).toBe(true);
    expect(globToRegExp('public.a+b').test('public.a+b')).toBe(true);
    expect(globToRegExp('public.a+b').test('public.aab')).toBe(false);
  });
});
