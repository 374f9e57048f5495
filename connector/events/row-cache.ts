/**
 * Bounded least-recently-used cache of each entity's latest row (JSON fragments per column), keyed
 * by fact subject. It supplies old values for deltas and unchanged TOAST values for facts.
 *
 * Capacity must stay well above the publish window (in messages): an entry written for an event
 * still in flight is then among the most recently used and cannot be evicted before its fact is
 * acknowledged, so a miss can always be served by the facts stream.
 */
export type Row = readonly string[];

/**
 * A cached row with the column layout it was written under: after DDL the table's columns may
 * differ, and the row is then re-read by column name (see ChangeProcessor).
 */
export interface CachedRow {
  readonly columns: readonly { readonly name: string }[];
  readonly values: Row;
}

export class RowCache {
  readonly #capacity: number;
  readonly #map = new Map<string, CachedRow>();
  hits = 0;
  misses = 0;

  /** @param capacity most entries kept */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get(subject: string): CachedRow | undefined {
    const row = this.#map.get(subject);
    if (row === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Move to the most-recent end: Map iterates in insertion order.
    this.#map.delete(subject);
    this.#map.set(subject, row);
    return row;
  }

  set(subject: string, row: CachedRow): void {
    this.#map.delete(subject);
    this.#map.set(subject, row);
    if (this.#map.size > this.#capacity) this.#evict();
  }

  /**
   * Drops the oldest tenth in one pass. Evicting one entry per insert would walk over the
   * deleted slots at the front of V8's ordered hash table every time (quadratic in practice).
   */
  #evict(): void {
    let n = Math.max(1, Math.floor(this.#capacity / 10));
    for (const k of this.#map.keys()) {
      this.#map.delete(k);
      if (--n === 0) break;
    }
  }

  delete(subject: string): void {
    this.#map.delete(subject);
  }

  /** Drops every entry whose subject starts with `prefix` (a truncated table). */
  deletePrefix(prefix: string): void {
    for (const k of this.#map.keys()) if (k.startsWith(prefix)) this.#map.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}
