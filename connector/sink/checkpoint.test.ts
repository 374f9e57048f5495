import { describe, expect, it } from 'vitest';
import { Checkpoint, movesConfirmed, type TxTicket } from './checkpoint.js';

/** What the sink does per message: counted when sent, uncounted when acknowledged. */
const send = (tx: TxTicket, n = 1) => void (tx.outstanding += n);
const ack = (tx: TxTicket, n = 1) => void (tx.outstanding -= n);

describe('Checkpoint', () => {
  it('moves only once every message of a committed transaction is acknowledged', () => {
    const c = new Checkpoint();
    const tx = c.begin();
    send(tx, 2);
    expect(c.advance()).toBeNull();
    c.commit(tx, 100n);
    expect(c.advance()).toBeNull();
    ack(tx);
    expect(c.advance()).toBeNull();
    ack(tx);
    expect(c.advance()).toBe(100n);
    expect(c.pending).toBe(false);
    expect(c.advance()).toBeNull();
  });

  it('never passes an open transaction, even with nothing in flight', () => {
    const c = new Checkpoint();
    const open = c.begin();
    const later = c.begin();
    c.commit(later, 200n);
    expect(c.advance()).toBeNull();
    expect(c.pending).toBe(true);
    c.commit(open, 100n);
    expect(c.advance()).toBe(200n);
  });

  it('waits for the oldest transaction: a later complete one is a low watermark behind it', () => {
    const c = new Checkpoint();
    const a = c.begin();
    send(a);
    c.commit(a, 100n);
    const b = c.begin();
    send(b);
    c.commit(b, 200n);
    ack(b);
    expect(c.advance()).toBeNull();
    ack(a);
    expect(c.advance()).toBe(200n);
  });

  it('completes a transaction without messages at its commit', () => {
    const c = new Checkpoint();
    c.commit(c.begin(), 42n);
    expect(c.advance()).toBe(42n);
  });

  it('stays exact across the compaction of its ticket queue', () => {
    const c = new Checkpoint();
    const held = c.begin();
    send(held);
    c.commit(held, 1n);
    const txs = Array.from({ length: 3000 }, (_, i) => {
      const tx = c.begin();
      c.commit(tx, BigInt(i + 2));
      return tx;
    });
    expect(c.advance()).toBeNull();
    ack(held);
    expect(c.advance()).toBe(3001n);
    for (let i = 0; i < 3000; i++) {
      const tx = c.begin();
      send(tx);
      c.commit(tx, BigInt(5000 + i));
      ack(tx);
      expect(c.advance()).toBe(BigInt(5000 + i));
    }
    expect(txs.length).toBe(3000);
    expect(c.pending).toBe(false);
  });

  // The no-loss property: whatever order acknowledgements arrive in, the checkpoint is never past
  // a transaction with an unacknowledged message or not yet committed, never moves backwards, and
  // reaches the last transaction once everything is acknowledged.
  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'holds the no-loss invariant under random acknowledgements (seed %i)',
    (seed) => {
      let state = seed;
      const rand = (n: number) => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state % n;
      };
      const c = new Checkpoint();
      const txs: { tx: TxTicket; end: bigint; committed: boolean }[] = [];
      const unacked: TxTicket[] = [];
      let confirmed = 0n;
      for (let step = 0; step < 1000; step++) {
        const r = rand(10);
        const open = txs.filter((t) => !t.committed);
        if (r < 2 || txs.length === 0) {
          txs.push({ tx: c.begin(), end: BigInt((txs.length + 1) * 10), committed: false });
        } else if (r < 5 && open.length) {
          const t = open[rand(open.length)]!;
          const n = rand(3);
          send(t.tx, n);
          for (let i = 0; i < n; i++) unacked.push(t.tx);
        } else if (r < 7 && open.length) {
          // The source commits transactions in the order it began them.
          const t = open[0]!;
          t.committed = true;
          c.commit(t.tx, t.end);
        } else if (unacked.length) {
          const [tx] = unacked.splice(rand(unacked.length), 1);
          ack(tx!);
        }
        const moved = c.advance();
        if (moved !== null) {
          expect(moved).toBeGreaterThan(confirmed);
          confirmed = moved;
        }
        // Everything at or below the checkpoint is committed and acknowledged, and the checkpoint is
        // as far as that allows (ends are 10, 20, 30…).
        const firstIncomplete = txs.find((t) => !t.committed || t.tx.outstanding > 0);
        const expected = firstIncomplete ? firstIncomplete.end - 10n : (txs.at(-1)?.end ?? 0n);
        if (confirmed !== expected) expect({ step, confirmed }).toEqual({ step, confirmed: expected });
      }
      for (const t of txs.filter((x) => !x.committed)) c.commit(t.tx, t.end);
      for (const tx of unacked) ack(tx);
      expect(c.advance() ?? confirmed).toBe(txs.at(-1)!.end);
      expect(c.pending).toBe(false);
    },
  );
});

describe('a keepalive position (a ticket without messages)', () => {
  it('passes at once when nothing is before it', () => {
    const c = new Checkpoint();
    c.commit(c.begin(), 500n);
    expect(c.advance()).toBe(500n);
    expect(c.pending).toBe(false);
  });

  it('waits behind an unacknowledged or open transaction, then passes with it', () => {
    const c = new Checkpoint();
    const tx = c.begin();
    send(tx);
    c.commit(tx, 100n);
    c.commit(c.begin(), 500n);
    expect(c.advance()).toBeNull();
    ack(tx);
    expect(c.advance()).toBe(500n);

    const open = c.begin();
    c.commit(c.begin(), 900n);
    expect(c.advance()).toBeNull();
    c.commit(open, 600n);
    expect(c.advance()).toBe(900n);
  });
});

describe('movesConfirmed', () => {
  it.each([
    [0n, 1n, true],
    [5n, 5n, false],
    [6n, 5n, false],
  ])('confirmed %s, checkpoint %s → %s', (confirmed, end, moves) => {
    expect(movesConfirmed(confirmed, end)).toBe(moves);
  });
});
