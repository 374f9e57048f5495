/**
 * TRUNCATE: a delta per table, a fact marker on `<P>.fact.<schema>.<table>.@none` (op truncate,
 * deleted), and once the marker is stored, a purge of the table's facts below it. A consumer that
 * sees the marker deletes every row of the table with a lower version; a consumer that replays the
 * facts stream later never sees the purged rows. Truncates are rare, so this is a barrier: the
 * sink is drained before and after each table.
 */
import { NO_KEY_TOKEN } from '../../schemas/keys.js';
import { formatVersion, type Position } from '../../schemas/versions.js';
import type { ChangeSink, FactStore, OutMessage, TableInfo } from '../ports.js';
import type { EventBodies } from './event-bodies.js';
import type { RowCache } from './row-cache.js';
import { atOrBelow, countChange, type OpenTx } from './transaction.js';

/** What the truncate of one table publishes at index `idx` of its transaction. */
export interface TruncateEvents {
  /** Null when the deltas stream holds it already (replay). */
  delta: OutMessage | null;
  /** The marker fact; null for a table without facts (no identity) or when stored already. */
  fact: OutMessage | null;
  /** The marker's subject: the table's facts below it are purged. */
  markerSubject: string;
  /** Whether the table has facts to purge (also on replay: the purge is idempotent and may not have run). */
  purge: boolean;
}

/** The events of the truncate of `t` at index `idx` (pure). */
export function truncateEvents(
  bodies: EventBodies,
  tx: OpenTx,
  t: TableInfo,
  idx: number,
  lastDelta: Position | null,
  lastFact: Position | null,
): TruncateEvents {
  const pos = { commitLsn: tx.commitLsn, commitIdx: idx };
  const version = formatVersion(tx.commitLsn, idx);
  const delta = atOrBelow(lastDelta, pos)
    ? null
    : bodies.delta(tx, t, 'truncate', NO_KEY_TOKEN, 'null', idx, version, null, null);
  const markerSubject = t.factPrefix + NO_KEY_TOKEN;
  const hasFacts = t.keyIdx.length > 0;
  const fact =
    !hasFacts || atOrBelow(lastFact, pos)
      ? null
      : bodies.fact(
          tx,
          t,
          'truncate',
          markerSubject,
          NO_KEY_TOKEN,
          '{}',
          idx,
          version,
          true,
          null,
          tx.context,
        );
  return { delta, fact, markerSubject, purge: hasFacts };
}

export interface TruncateOptions {
  sink: ChangeSink;
  facts: FactStore;
  cache: RowCache;
  bodies: EventBodies;
  lastDelta: Position | null;
  lastFact: Position | null;
  /** The processor's counters. */
  stats: { changes: number };
  /** Called for each truncated table (the snapshotter drops its chunk rows). */
  onChange?: ((table: TableInfo, keyToken: string) => void) | undefined;
}

/** Publishes the truncate of the tables, in order, in the open transaction `tx`. */
export async function truncateTables(
  o: TruncateOptions,
  tx: OpenTx,
  relationIds: readonly number[],
  tableOf: (relationId: number) => TableInfo,
): Promise<void> {
  await o.sink.drained();
  for (const id of relationIds) {
    const t = tableOf(id);
    const idx = tx.idx++;
    o.stats.changes++;
    countChange(tx, t);
    o.cache.deletePrefix(t.factPrefix);
    o.onChange?.(t, NO_KEY_TOKEN);
    const e = truncateEvents(o.bodies, tx, t, idx, o.lastDelta, o.lastFact);
    o.sink.publishChange(tx.ticket, e.delta, e.fact);
    await o.sink.drained();
    // Also on replay (marker already stored): the purge is idempotent and may not have run.
    if (e.purge) await o.facts.purgeTable(t.factPrefix + '*', e.markerSubject);
  }
}
