/** Helpers that turn polled samples into chart lines. */

/** Rates between successive (seconds, count) samples, placed at the middle of each interval. */
export function ratesOf(counts: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < counts.length; i++) {
    const [t0, n0] = counts[i - 1]!;
    const [t1, n1] = counts[i]!;
    if (t1 > t0) out.push([(t0 + t1) / 2, (n1 - n0) / (t1 - t0)]);
  }
  return out;
}
