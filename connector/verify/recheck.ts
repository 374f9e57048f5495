/**
 * When a difference found by `sluice verify` is real, and when it is a change in flight. Pure.
 *
 * A row read at WAL position L and a fact fetched at some moment can disagree only because the
 * connector has not published a change yet, or because the row changed after it was read. The
 * verifier therefore re-checks a difference: it (re-)reads the row after the fact it compares with
 * was fetched, waits until the slot's confirmed position has passed L (every change visible to that
 * read is then in the facts stream), and fetches the fact again. When that fact is the same one as
 * before the read (same version, same TRUNCATE marker), nothing newer touched the row up to the read
 * and the connector has published everything the read saw: the row and the fact must be equal, and
 * a difference is real. When the fact changed in between, the row is read again and the round
 * repeats, until the difference resolves, is confirmed, or the time allowed for the wait runs out.
 */
import { compareRow, factIdentity, type FactState, type Verdict } from './compare.js';

/** What the verifier tracks of one difference while it is re-checked. */
export interface RecheckState {
  /** The row as last read (null: no row with that key). */
  row: ReadonlyMap<string, string> | null;
  /** `pg_current_wal_lsn()` right after the row was read. */
  readLsn: bigint;
  /** factIdentity() of the fact fetched before `row` was read; null when none was. */
  factBeforeRead: string | null;
}

/** `resolved`: no difference (any more); `real`: it persists; `reread`: read the row again, then re-check. */
export type Decision =
  | { readonly kind: 'resolved' }
  | { readonly kind: 'real'; readonly verdict: Exclude<Verdict, { kind: 'match' }> }
  | { readonly kind: 'reread'; readonly factIdentity: string };

/**
 * Judges a difference with the fact fetched after the slot's confirmed position passed
 * `state.readLsn`.
 */
export function recheck(state: RecheckState, fact: FactState | null, truncatedAt: string | null): Decision {
  const verdict = compareRow(state.row, fact, truncatedAt);
  if (verdict.kind === 'match') return { kind: 'resolved' };
  const identity = factIdentity(fact, truncatedAt);
  if (state.factBeforeRead === identity) return { kind: 'real', verdict };
  return { kind: 'reread', factIdentity: identity };
}
