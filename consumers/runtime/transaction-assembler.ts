/**
 * Assembles whole source transactions from the deltas stream for `handleTransaction`.
 *
 * The connector publishes a transaction's deltas (each with `tx.lsn` and `tx.seq`) and then its
 * commit marker `<P>.tx.<txid>` with the number of events per table. A transaction is complete
 * when the marker has arrived and, for the tables read, as many deltas as the marker counts. The
 * commit LSN identifies a transaction (xids repeat after wraparound). Deliveries may repeat
 * (redelivery) and, after a crash, come back in another order: events are kept by `tx.seq`, once.
 *
 * Pure bookkeeping over plain data; the runtime acknowledges the messages.
 */
import { parseLsn } from '../../schemas/versions.js';

/** A delta of a transaction. */
export interface TxEventPart<M> {
  lsn: string;
  seq: number;
  msg: M;
}

/** A commit marker: its LSN and how many events of the tables read it announces. */
export interface TxMarkerPart<M> {
  lsn: string;
  expected: number;
  msg: M;
}

/** What closing a transaction on its marker gives. */
export interface ClosedTransaction<M> {
  /** Its events in `tx.seq` order. */
  events: M[];
  /** True when every announced event is there. */
  complete: boolean;
  /** Events of transactions that committed earlier and whose marker never came (cut off by the start position or retention). */
  orphans: M[];
}

export class TransactionAssembler<M> {
  readonly #open = new Map<string, Map<number, M>>();
  #size = 0;

  /** Events buffered, waiting for their markers. */
  get size(): number {
    return this.#size;
  }

  /** Every buffered message (to keep their deliveries alive). */
  *messages(): Iterable<M> {
    for (const t of this.#open.values()) yield* t.values();
  }

  /** Buffers a delta; a repeated delivery replaces the earlier one. */
  addEvent(p: TxEventPart<M>): void {
    let t = this.#open.get(p.lsn);
    if (!t) {
      t = new Map();
      this.#open.set(p.lsn, t);
    }
    if (!t.has(p.seq)) this.#size++;
    t.set(p.seq, p.msg);
  }

  /** Closes the marker's transaction: its events leave the buffer, with those of older unfinished ones. */
  close(marker: TxMarkerPart<M>): ClosedTransaction<M> {
    const t = this.#open.get(marker.lsn);
    this.#open.delete(marker.lsn);
    const events = t ? [...t.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m) : [];
    this.#size -= events.length;
    const orphans: M[] = [];
    const at = parseLsn(marker.lsn);
    for (const [lsn, other] of this.#open) {
      if (parseLsn(lsn) < at) {
        orphans.push(...other.values());
        this.#size -= other.size;
        this.#open.delete(lsn);
      }
    }
    return { events, complete: events.length === marker.expected, orphans };
  }
}

/** Events a marker announces for the tables read (`[]` = every table). */
export function expectedEvents(tables: Record<string, number>, selected: readonly string[]): number {
  let n = 0;
  for (const [t, c] of Object.entries(tables)) if (selected.length === 0 || selected.includes(t)) n += c;
  return n;
}
