/**
 * The checkpoint: which source position may be confirmed to PostgreSQL. This is where the no-loss
 * guarantee lives (DESIGN.md, "Guarantees"): the slot's confirmed position moves only past
 * transactions whose every message JetStream acknowledged, never backwards. While the source is
 * idle, the walsender's keepalive position arrives as a transaction without messages
 * (ports.ts KeepaliveMessage): it completes at once, and passes only behind every ticket before it.
 *
 * Pure bookkeeping, no I/O: the sink opens a ticket per source transaction (`begin`), counts each
 * message of it sent and acknowledged on the ticket, and marks it complete when the source sent
 * the whole transaction (`commit`). `advance()` then pops completed tickets in source order and
 * returns the end LSN of the newest one: a transaction whose messages are all acknowledged, but
 * behind one that is not, waits for it — the checkpoint is a low watermark, not a maximum.
 */
import type { TxTicket as TxTicketPort } from '../ports.js';
/** A source transaction as the sink tracks it (the `TxTicket` the events hold, ports.ts). */
export class TxTicket implements TxTicketPort {
  /** Messages published or queued and not yet acknowledged. */
  outstanding = 0;
  /** Set by commit(): the source sent the whole transaction. */
  endLsn: bigint | null = null;
}

/** Tickets of the open and unconfirmed transactions, in source order. */
export class Checkpoint {
  readonly #txs: TxTicket[] = [];
  #head = 0;

  /** Opens a ticket for the next source transaction. */
  begin(): TxTicket {
    const tx = new TxTicket();
    this.#txs.push(tx);
    return tx;
  }

  /** The source sent the whole transaction; it completes once `outstanding` reaches 0. */
  commit(tx: TxTicket, endLsn: bigint): void {
    tx.endLsn = endLsn;
  }

  /** True while some ticket is not complete (a transaction open, or a message unacknowledged). */
  get pending(): boolean {
    return this.#head < this.#txs.length;
  }

  /**
   * Pops the complete tickets at the head, in order; returns the end LSN of the last one popped,
   * or null when the head ticket is not complete.
   */
  advance(): bigint | null {
    let last: bigint | null = null;
    while (this.#head < this.#txs.length) {
      const tx = this.#txs[this.#head]!;
      if (tx.endLsn === null || tx.outstanding > 0) break;
      last = tx.endLsn;
      this.#txs[this.#head++] = undefined as never;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#txs.length) {
      this.#txs.splice(0, this.#head);
      this.#head = 0;
    }
    return last;
  }
}

/**
 * Whether a checkpoint (`endLsn`, from `Checkpoint.advance`) moves the confirmed position: only
 * forward. (A keepalive's position confirmed while idle may already be past an end LSN reported later.)
 */
export function movesConfirmed(confirmed: bigint, endLsn: bigint): boolean {
  return endLsn > confirmed;
}
