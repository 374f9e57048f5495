import { describe, expect, it } from 'vitest';
import { TransactionAssembler, type FactRecord } from './transaction-assembler.js';

function fact(seq: number, lsn: number, txSeq: number, op = 'update'): FactRecord {
  return {
    seq,
    table: 'public.t',
    key: { id: seq },
    op,
    deleted: false,
    row: { id: seq },
    version: `${lsn.toString(16).padStart(16, '0')}-${txSeq.toString(16).padStart(8, '0')}`,
    schemaVersion: 1,
    lsn: BigInt(lsn),
    txId: lsn,
    txSeq,
    commitTime: null,
  };
}

describe('TransactionAssembler', () => {
  it.each([
    {
      what: 'one transaction stays open until a later one starts',
      facts: [fact(1, 100, 0), fact(2, 100, 1)],
      closed: [],
      open: [1, 2],
    },
    {
      what: 'a later commit LSN closes the open transaction',
      facts: [fact(1, 100, 0), fact(2, 100, 1), fact(3, 200, 0)],
      closed: [[1, 2]],
      open: [3],
    },
    {
      what: 'compaction gaps inside and between transactions do not matter',
      facts: [fact(4, 100, 2), fact(9, 300, 5), fact(12, 400, 0), fact(13, 400, 3)],
      closed: [[4], [9]],
      open: [12, 13],
    },
  ])('$what', ({ facts, closed, open }) => {
    const a = new TransactionAssembler();
    const done = facts.map((f) => a.push(f)).filter((t) => t !== null);
    expect(done.map((t) => t.facts.map((f) => f.seq))).toEqual(closed);
    expect(done.map((t) => t.lastSeq)).toEqual(closed.map((c) => c[c.length - 1]));
    expect(a.open()?.facts.map((f) => f.seq)).toEqual(open);
  });

  it('take() hands out the open transaction once', () => {
    const a = new TransactionAssembler();
    a.push(fact(1, 100, 0, 'snapshot'));
    a.push(fact(2, 100, 1, 'snapshot'));
    const t = a.take()!;
    expect(t.snapshotOnly).toBe(true);
    expect(t.lastSeq).toBe(2);
    expect(a.take()).toBeNull();
    expect(a.open()).toBeNull();
  });

  it('a transaction mixing snapshot and change facts is not snapshot-only', () => {
    const a = new TransactionAssembler();
    a.push(fact(1, 100, 0, 'snapshot'));
    a.push(fact(2, 100, 1, 'insert'));
    expect(a.open()!.snapshotOnly).toBe(false);
  });

  it('refuses a fact older than the open transaction (the stream is in commit order)', () => {
    const a = new TransactionAssembler();
    a.push(fact(1, 200, 0));
    expect(() => a.push(fact(2, 100, 0))).toThrow(/out of commit order at seq 2/);
  });
});
