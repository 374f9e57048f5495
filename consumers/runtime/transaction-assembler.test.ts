import { describe, expect, it } from 'vitest';
import { expectedEvents, TransactionAssembler } from './transaction-assembler.js';

type Step = ['e', string, number] | ['m', string, number];

describe('TransactionAssembler', () => {
  it.each<[string, Step[], { events: string[]; complete: boolean; orphans: string[] }[]]>([
    [
      'one transaction in order',
      [
        ['e', '0/10', 0],
        ['e', '0/10', 1],
        ['m', '0/10', 2],
      ],
      [{ events: ['0/10#0', '0/10#1'], complete: true, orphans: [] }],
    ],
    [
      'redelivered out of order and twice (after a crash)',
      [
        ['e', '0/10', 1],
        ['e', '0/10', 0],
        ['e', '0/10', 1],
        ['m', '0/10', 2],
      ],
      [{ events: ['0/10#0', '0/10#1'], complete: true, orphans: [] }],
    ],
    [
      'cut off at the start: fewer events than announced',
      [
        ['e', '0/10', 2],
        ['m', '0/10', 3],
      ],
      [{ events: ['0/10#2'], complete: false, orphans: [] }],
    ],
    [
      'an earlier transaction whose marker never came',
      [
        ['e', '0/9', 0],
        ['e', '0/10', 0],
        ['m', '0/10', 1],
      ],
      [{ events: ['0/10#0'], complete: true, orphans: ['0/9#0'] }],
    ],
    [
      'two transactions in commit order',
      [
        ['e', '0/10', 0],
        ['m', '0/10', 1],
        ['e', 'A/0', 0],
        ['e', 'A/0', 1],
        ['m', 'A/0', 2],
      ],
      [
        { events: ['0/10#0'], complete: true, orphans: [] },
        { events: ['A/0#0', 'A/0#1'], complete: true, orphans: [] },
      ],
    ],
    [
      'a marker of a transaction without selected events',
      [['m', '0/10', 0]],
      [{ events: [], complete: true, orphans: [] }],
    ],
  ])('%s', (_name, steps, want) => {
    const a = new TransactionAssembler<string>();
    const got: { events: string[]; complete: boolean; orphans: string[] }[] = [];
    for (const [kind, lsn, n] of steps) {
      if (kind === 'e') a.addEvent({ lsn, seq: n, msg: `${lsn}#${n}` });
      else got.push(a.close({ lsn, expected: n, msg: `marker ${lsn}` }));
    }
    expect(got).toEqual(want);
    expect(a.size).toBe(0);
  });

  it('counts buffered events and lists them', () => {
    const a = new TransactionAssembler<string>();
    a.addEvent({ lsn: '0/1', seq: 0, msg: 'x' });
    a.addEvent({ lsn: '0/1', seq: 0, msg: 'x again' });
    a.addEvent({ lsn: '0/2', seq: 0, msg: 'y' });
    expect(a.size).toBe(2);
    expect([...a.messages()].sort()).toEqual(['x again', 'y']);
  });

  it.each<[Record<string, number>, string[], number]>([
    [{ 'public.orders': 1, 'public.order_items': 2 }, [], 3],
    [{ 'public.orders': 1, 'public.order_items': 2 }, ['public.order_items'], 2],
    [{ 'public.orders': 1 }, ['public.payments'], 0],
  ])('expectedEvents(%j, %j) = %i', (tables, sel, n) => {
    expect(expectedEvents(tables, sel)).toBe(n);
  });
});
