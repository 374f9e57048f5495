/**
 * Snapshot facts (the DBLog snapshotter's rows, see snapshot/): published at the current position
 * of the open transaction — the high watermark's — each row taking the next index, so they join
 * that transaction and sort among the changes exactly where the watermark stands. They carry no
 * application context: no application statement produced them.
 */
import { formatVersion, type Position } from '../../schemas/versions.js';
import type { OutMessage, TableInfo } from '../ports.js';
import { keyObject, type EventBodies } from './event-bodies.js';
import type { RowCache } from './row-cache.js';
import { keyTokenOf } from './tables.js';
import { atOrBelow, type OpenTx } from './transaction.js';

/** The fact of one snapshot row at index `idx` (pure); `fact` is null when stored already (replay). */
export function snapshotFact(
  bodies: EventBodies,
  tx: OpenTx,
  t: TableInfo,
  row: readonly string[],
  idx: number,
  lastFact: Position | null,
): { subject: string; fact: OutMessage | null } {
  const keyToken = keyTokenOf(t, row);
  const subject = t.factPrefix + keyToken;
  if (atOrBelow(lastFact, { commitLsn: tx.commitLsn, commitIdx: idx })) return { subject, fact: null };
  const version = formatVersion(tx.commitLsn, idx);
  const fact = bodies.fact(
    tx,
    t,
    'snapshot',
    subject,
    keyToken,
    keyObject(t, row),
    idx,
    version,
    false,
    row,
    '',
  );
  return { subject, fact };
}

export interface SnapshotFactOptions {
  cache: RowCache;
  bodies: EventBodies;
  lastFact: Position | null;
  /** Hands a fact to the sink (through the claim check); a promise when it has to wait. */
  send: (tx: OpenTx, fact: OutMessage, onFactAck: ((seq: number) => void) | null) => void | Promise<void>;
}

/**
 * Publishes snapshot rows (fragments in column order) in the open transaction `tx`; `onLastAck`
 * is called when the last row's fact is acknowledged. Returns how many were published (rows at or
 * below the stored position are skipped).
 */
export async function emitSnapshotFacts(
  o: SnapshotFactOptions,
  tx: OpenTx,
  t: TableInfo,
  rows: readonly (readonly string[])[],
  onLastAck: (() => void) | null,
): Promise<number> {
  let n = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const { subject, fact } = snapshotFact(o.bodies, tx, t, row, tx.idx++, o.lastFact);
    o.cache.set(subject, { columns: t.columns, values: row });
    // Positions rise, so skipped rows are a prefix: when any row is published, the last one is.
    if (!fact) continue;
    const last = r === rows.length - 1 && onLastAck ? () => onLastAck() : null;
    const sent = o.send(tx, fact, last);
    if (sent) await sent;
    n++;
  }
  return n;
}
