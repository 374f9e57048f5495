// Log-linear buckets (HdrHistogram's layout in miniature): values in microseconds, 2^SUB_BITS
// sub-buckets per power of two, so any recorded value is reported within ~1.6% and memory stays
// fixed however long the traffic runs.
const SUB_BITS = 6;
const SUB_COUNT = 1 << SUB_BITS;
const MAX_EXPONENT = 40; // 2^40 µs ≈ 12 days: nothing a transaction takes is longer

/** Fixed-size latency histogram with percentile queries; records milliseconds, ~1.6% precision. */
export class LatencyHistogram {
  readonly #counts = new Float64Array((MAX_EXPONENT - SUB_BITS + 2) * SUB_COUNT);
  #total = 0;
  #max = 0;

  /** Adds one observation of `ms` milliseconds (negative values count as 0). */
  record(ms: number): void {
    const micros = Math.max(0, Math.round(ms * 1000));
    this.#counts[bucketOf(micros)]! += 1;
    this.#total += 1;
    if (ms > this.#max) this.#max = ms;
  }

  /** Number of observations. */
  get count(): number {
    return this.#total;
  }

  /** The value in milliseconds below which `q` (0..1) of observations fall; 0 when empty. */
  percentile(q: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      // Never report more than the largest observation: the top bucket's upper edge can exceed it.
      if (seen >= rank) return Math.min(upperEdge(i) / 1000, this.#max);
    }
    return this.#max;
  }
}

// Values below 2^(SUB_BITS+1) get one bucket each; above, a value is kept as its top SUB_BITS+1
// bits m (64..127) and the shift dropped, at index shift * SUB_COUNT + m, which continues the
// exact range without gaps.
function bucketOf(micros: number): number {
  const v = Math.min(micros, 2 ** MAX_EXPONENT - 1);
  const shift = Math.max(0, Math.floor(Math.log2(Math.max(v, 1))) - SUB_BITS);
  return shift * SUB_COUNT + Math.floor(v / 2 ** shift);
}

function upperEdge(bucket: number): number {
  if (bucket < 2 * SUB_COUNT) return bucket;
  const shift = Math.floor(bucket / SUB_COUNT) - 1;
  const m = bucket - shift * SUB_COUNT;
  return (m + 1) * 2 ** shift - 1;
}
