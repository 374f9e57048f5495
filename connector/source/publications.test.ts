/**
 * The pure parts of the source's setup: which tables can publish updates and deletes, the two
 * publications' plan and names, table patterns, identifiers quoted, privilege errors explained.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError } from '../errors.js';
import { planPublications, publicationNames } from './publications.js';
import { explainPrivilege, qualified, quoteIdent } from './sql.js';
import { globToRegExp, hasUsableIdentity, type TableRow } from './table-list.js';

const row = (
  table: string,
  replident: string,
  hasPrimaryKey: boolean,
  hasIdentityIndex = false,
): TableRow => ({
  oid: 1,
  schema: 'public',
  table,
  replident,
  hasPrimaryKey,
  hasIdentityIndex,
  partitioned: false,
  owned: true,
});

describe('publications', () => {
  it('puts tables with a usable identity in the full publication, the others in the insert-only one', () => {
    const pk = row('pk', 'd', true);
    const noPk = row('nopk', 'd', false);
    const full = row('full', 'f', false);
    const index = row('index', 'i', false, true);
    const indexGone = row('indexgone', 'i', false, false);
    const nothing = row('nothing', 'n', true);
    expect([pk, noPk, full, index, indexGone, nothing].map(hasUsableIdentity)).toEqual([
      true,
      false,
      true,
      true,
      false,
      false,
    ]);
    expect(planPublications([pk, noPk, full, nothing])).toEqual({
      full: [pk, full],
      insertOnly: [noPk, nothing],
    });
    expect(publicationNames('sluice')).toEqual(['sluice', 'sluice_ins']);
  });
});

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

describe('sql helpers', () => {
  it('quotes identifiers', () => {
    expect(quoteIdent('Order "items"')).toBe('"Order ""items"""');
    expect(qualified({ schema: 'public', table: 'Orders' })).toBe('"public"."Orders"');
  });

  it('explains a refused statement with the fix, and leaves other errors as they are', () => {
    const refused = Object.assign(new Error('permission denied for database shop'), { code: '42501' });
    const e = explainPrivilege(refused, 'create publication sluice');
    expect(e).toBeInstanceOf(SluiceError);
    expect(e).toMatchObject({ code: ErrorCodes.privileges });
    expect(e.message).toBe('Sluice may not create publication sluice: permission denied for database shop.');
    const other = new Error('connection lost');
    expect(explainPrivilege(other, 'anything')).toBe(other);
  });
});
