/**
 * A deterministic pseudo-random source (mulberry32): the same seed gives the same sequence on every
 * machine, which is what makes seeded data and traffic reproducible. Not for cryptography.
 */
export class Random {
  #state: number;

  /** `seed` is reduced to 32 bits. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Next 32 random bits as an unsigned integer. */
  uint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Random.pick: empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** An index in [0, length) skewed towards 0 (quadratic), so a few rows are hot, as in real shops. */
  skewedIndex(length: number): number {
    const u = this.next();
    return Math.floor(u * u * length);
  }

  /** `count` distinct indexes in [0, length), in draw order; `count` must not exceed `length`. */
  distinctIndexes(count: number, length: number, skewed = false): number[] {
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(skewed ? this.skewedIndex(length) : this.int(0, length - 1));
    return [...chosen];
  }

  /** A random (version 4 layout) UUID in its text form. */
  uuid(): string {
    const hex = [this.uint32(), this.uint32(), this.uint32(), this.uint32()]
      .map((n) => n.toString(16).padStart(8, '0'))
      .join('');
    const variant = ((parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

/** Folds several integers into one 32-bit seed (murmur3 finaliser per step), order-sensitive. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    // Split into 32-bit halves so counts above 2^32 still change the result.
    for (const word of [part >>> 0, Math.floor(part / 4294967296) >>> 0]) {
      h = Math.imul(h ^ word, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}
