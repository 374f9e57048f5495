/**
 * Bounded least-recently-used cache of each entity's latest row (JSON fragments per column), keyed
 * by fact subject. It supplies old values for deltas and unchanged TOAST values for facts.
 *
 * Capacity must stay well above the publish window (in messages): an entry written for an event
 * still in flight is then among the most recently used and cannot be evicted before its fact is
 * acknowledged, so a miss can always be served by the facts stream.
 */
/** A row as JSON fragments in column order; `undefined` marks a value Sluice does not know. */
export type Row = readonly (string | undefined)[];

/**
 * A cached row with the column layout it was written under: after DDL the table's columns may
 * differ, and the row is then re-read by column name (see ChangeProcessor).
 */
export interface CachedRow {
  readonly columns: readonly { readonly name: string; readonly typeOid: number }[];
  readonly values: Row;
}

/**
 * An entry as kept: the values packed into one string. A cache entry lives long enough to be
 * copied by every young-generation collection it survives and then promoted; one flat string is one
 * object to copy instead of one per column (the drain profile's garbage collection fell with it).
 * JSON fragments never contain the separator U+0001 or the unknown mark U+0002 (JSON escapes
 * control characters); a row with a value that does is kept unpacked.
 */
interface Entry {
  readonly columns: CachedRow['columns'];
  readonly packed: string | null;
  readonly values: Row | null;
}

const SEP = '\u0001';
const UNKNOWN = '\u0002';

export function packRow(values: Row): string | null {
  let s = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== undefined && (v.includes(SEP) || v === UNKNOWN)) return null;
    s += (i ? SEP : '') + (v === undefined ? UNKNOWN : v);
  }
  return flatten(s);
}

/**
 * Reading a character makes V8 flatten a string built by concatenation into one object now, while
 * it is young, instead of the collector copying the rope piece by piece when it promotes it.
 */
function flatten(s: string): string {
  if (s.length) void s.charCodeAt(0);
  return s;
}

export function unpackRow(packed: string): Row {
  return packed.split(SEP).map((v) => (v === UNKNOWN ? undefined : v));
}

/** Rough bytes an entry costs on the heap. */
function weigh(subject: string, e: Entry): number {
  if (e.packed !== null) return 64 + subject.length + e.packed.length;
  let n = 96 + subject.length;
  for (const v of e.values!) n += 24 + (v === undefined ? 0 : v.length);
  return n;
}

export class RowCache {
  readonly #capacity: number;
  readonly #maxBytes: number;
  readonly #map = new Map<string, Entry>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  /**
   * @param capacity most entries kept
   * @param maxBytes most bytes kept (estimated), default unlimited
   */
  constructor(capacity: number, maxBytes = Infinity) {
    this.#capacity = capacity;
    this.#maxBytes = maxBytes;
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  get(subject: string): CachedRow | undefined {
    const e = this.#map.get(subject);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Move to the most-recent end: Map iterates in insertion order.
    this.#map.delete(subject);
    this.#map.set(subject, e);
    return { columns: e.columns, values: e.values ?? unpackRow(e.packed!) };
  }

  /** Whether an entry exists (does not count as a use). */
  has(subject: string): boolean {
    return this.#map.has(subject);
  }

  set(subject: string, row: CachedRow): void {
    this.delete(subject);
    const packed = packRow(row.values);
    const e: Entry = { columns: row.columns, packed, values: packed === null ? row.values : null };
    this.#map.set(subject, e);
    this.#bytes += weigh(subject, e);
    if (this.#map.size > this.#capacity || this.#bytes > this.#maxBytes) this.#evict();
  }

  /**
   * Drops the oldest tenth in one pass. Evicting one entry per insert would walk over the
   * deleted slots at the front of V8's ordered hash table every time (quadratic in practice).
   */
  #evict(): void {
    let n = Math.max(1, Math.floor(this.#map.size / 10));
    for (const [k, row] of this.#map) {
      this.#map.delete(k);
      this.#bytes -= weigh(k, row);
      if (--n === 0 && this.#map.size <= this.#capacity && this.#bytes <= this.#maxBytes) break;
    }
  }

  delete(subject: string): void {
    const row = this.#map.get(subject);
    if (row === undefined) return;
    this.#map.delete(subject);
    this.#bytes -= weigh(subject, row);
  }

  /** Drops every entry whose subject starts with `prefix` (a truncated table). */
  deletePrefix(prefix: string): void {
    for (const k of [...this.#map.keys()]) if (k.startsWith(prefix)) this.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}
