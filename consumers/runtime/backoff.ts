/**
 * Retry delays. A failed event is negatively acknowledged with `nak(delay)`, so the server
 * redelivers it after the delay; the delay depends only on the attempt that failed, which makes it
 * the same whichever process handles the redelivery.
 */

/** Exponential backoff: `initial · multiplier^(attempt-1)`, capped at `max`. All in milliseconds. */
export interface ExponentialBackoff {
  /** Delay after the first failure, ms. Default 1000. */
  initial: number;
  /** Longest delay, ms. Default 60000. */
  max: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
}

/** A list of delays in ms (the last one repeats), or exponential with a cap. */
export type Backoff = readonly number[] | ExponentialBackoff;

export const DEFAULT_BACKOFF: ExponentialBackoff = Object.freeze({
  initial: 1000,
  max: 60_000,
  multiplier: 2,
});

/** Milliseconds to wait before the next delivery after attempt `attempt` (1-based) failed. */
export function retryDelay(backoff: Backoff, attempt: number): number {
  const n = Math.max(1, Math.floor(attempt));
  if (isList(backoff)) {
    if (backoff.length === 0) return 0;
    return backoff[Math.min(n - 1, backoff.length - 1)]!;
  }
  const mult = backoff.multiplier ?? 2;
  // Exponent bounded so that huge attempt numbers do not overflow to Infinity before the cap.
  const d = backoff.initial * Math.pow(mult, Math.min(n - 1, 64));
  return Math.min(backoff.max, Math.round(d));
}

function isList(b: Backoff): b is readonly number[] {
  return Array.isArray(b);
}

/** The problem with a backoff setting, or null when it is valid. */
export function backoffProblem(b: unknown): string | null {
  if (Array.isArray(b)) {
    return b.every((d) => typeof d === 'number' && Number.isFinite(d) && d >= 0)
      ? null
      : 'expected a list of delays in milliseconds (numbers ≥ 0)';
  }
  if (b && typeof b === 'object') {
    const e = b as Partial<ExponentialBackoff>;
    const ok =
      typeof e.initial === 'number' &&
      e.initial >= 0 &&
      typeof e.max === 'number' &&
      e.max >= e.initial &&
      (e.multiplier === undefined || (typeof e.multiplier === 'number' && e.multiplier >= 1));
    return ok
      ? null
      : 'expected { initial, max, multiplier? } in milliseconds with max ≥ initial and multiplier ≥ 1';
  }
  return 'expected a list of delays in milliseconds or { initial, max, multiplier? }';
}
