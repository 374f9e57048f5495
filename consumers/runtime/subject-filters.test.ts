import { describe, expect, it } from 'vitest';
import {
  filterSubjects,
  route,
  selected,
  serverFilter,
  supportsMultiFilter,
  type Selection,
} from './subject-filters.js';

const base: Selection = { prefix: 'cdc', from: 'deltas', tables: [], ops: [], txMarkers: false };

describe('filterSubjects', () => {
  it.each<[Partial<Selection>, string[]]>([
    [{ from: 'facts' }, []],
    [{ from: 'facts', tables: ['public.orders'] }, ['cdc.fact.public.orders.*']],
    [{ from: 'facts', tables: ['public.a', 'odd.My T'] }, ['cdc.fact.public.a.*', 'cdc.fact.odd.~TXkgVA.*']],
    [{}, ['cdc.delta.>']],
    [{ txMarkers: true }, []],
    [{ tables: ['public.orders'] }, ['cdc.delta.public.orders.>']],
    [{ tables: ['public.orders'], txMarkers: true }, ['cdc.delta.public.orders.>', 'cdc.tx.*']],
    [{ ops: ['delete'] }, ['cdc.delta.*.*.delete.*']],
    [
      { tables: ['public.orders'], ops: ['insert', 'update'] },
      ['cdc.delta.public.orders.insert.*', 'cdc.delta.public.orders.update.*'],
    ],
  ])('%j → %j', (sel, want) => {
    expect(filterSubjects({ ...base, ...sel })).toEqual(want);
  });
});

describe('serverFilter', () => {
  it.each<[string[], boolean, ReturnType<typeof serverFilter>]>([
    [[], false, { clientSide: false }],
    [['a.>'], false, { filter_subject: 'a.>', clientSide: false }],
    [['a.*', 'b.*'], true, { filter_subjects: ['a.*', 'b.*'], clientSide: false }],
    [['a.*', 'b.*'], false, { clientSide: true }],
  ])('%j multi=%s', (f, multi, want) => {
    expect(serverFilter(f, multi)).toEqual(want);
  });

  it.each([
    ['2.9.10', false],
    ['2.10.27', true],
    ['2.12.0', true],
    ['3.0.0', true],
  ])('server %s multi-filter %s', (v, want) => {
    expect(supportsMultiFilter(v)).toBe(want);
  });
});

describe('route and selected', () => {
  it.each<[string, ReturnType<typeof route>]>([
    [
      'cdc.delta.public.orders.update.7',
      { kind: 'delta', table: 'public.orders', op: 'update', key: 'public.orders/7', barrier: false },
    ],
    [
      'cdc.delta.public.orders.delete.7',
      { kind: 'delta', table: 'public.orders', op: 'delete', key: 'public.orders/7', barrier: false },
    ],
    [
      'cdc.delta.public.orders.truncate.@none',
      { kind: 'delta', table: 'public.orders', op: 'truncate', key: 'public.orders/@none', barrier: true },
    ],
    [
      'cdc.fact.public.orders.7',
      { kind: 'fact', table: 'public.orders', key: 'public.orders/7', barrier: false },
    ],
    [
      'cdc.fact.public.orders.@none',
      { kind: 'fact', table: 'public.orders', key: 'public.orders/@none', barrier: true },
    ],
    ['cdc.tx.991', { kind: 'tx', key: 'tx/991', barrier: false }],
    ['other.delta.public.orders.update.7', null],
    ['cdc.heartbeat', null],
  ])('%s', (subject, want) => {
    expect(route('cdc', subject)).toEqual(want);
  });

  it.each<[Partial<Selection>, string, boolean]>([
    [{ tables: ['public.orders'] }, 'cdc.delta.public.orders.update.7', true],
    [{ tables: ['public.orders'] }, 'cdc.delta.public.items.update.7', false],
    [{ ops: ['insert'] }, 'cdc.delta.public.orders.update.7', false],
    [{}, 'cdc.tx.5', false],
    [{ txMarkers: true }, 'cdc.tx.5', true],
    [{ from: 'facts' }, 'cdc.delta.public.orders.update.7', false],
  ])('%j selects %s: %s', (sel, subject, want) => {
    expect(selected({ ...base, ...sel }, route('cdc', subject)!)).toBe(want);
  });
});
