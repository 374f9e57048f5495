/**
 * The source transaction being processed, as the files that publish its events see it, and the
 * replay rule they share: a position at or below a stream's last stored position is published
 * already (after a restart the session starts at the slot's confirmed position, which may be behind
 * the streams).
 */
import { comparePositions, type Position } from '../../schemas/versions.js';
import type { LogicalMessage, TableInfo, TxTicket } from '../ports.js';
import type { TxPlace } from './event-bodies.js';

/** The open source transaction (its place in the events: event-bodies.ts TxPlace). */
export interface OpenTx extends TxPlace {
  idx: number;
  ticket: TxTicket;
  deltas: number;
  perTable: Map<string, number>;
  messages: LogicalMessage[];
  /** Set by `sluice.context` messages (domain-events.ts). */
  context: string;
  /** Domain events published for the transaction. */
  outbox: number;
}

/** Whether `p` is at or below a stream's last stored position (already published). */
export function atOrBelow(last: Position | null, p: Position): boolean {
  return last !== null && comparePositions(p, last) <= 0;
}

/** Counts a change of table `t` in the transaction (its commit marker's counts). */
export function countChange(tx: OpenTx, t: TableInfo): void {
  tx.deltas++;
  tx.perTable.set(t.name, (tx.perTable.get(t.name) ?? 0) + 1);
}
