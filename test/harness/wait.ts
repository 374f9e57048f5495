import { HarnessError, HarnessErrorCode, describeError } from './errors.js';

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** Give up after this many milliseconds (a pending attempt is abandoned); default 30000. */
  timeout?: number;
  /** Pause between attempts in milliseconds; default 50. */
  interval?: number;
  /** What is waited for, named in the timeout error (e.g. "order 42 in the read model"). */
  message?: string;
  /** Stop waiting at once when aborted, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

const EXPIRED = Symbol('expired');

/**
 * Calls `fn` until it returns without throwing and does not return `false`, and resolves with that
 * value. Gives up after `timeout` ms with a {@link HarnessError} (code `TIMEOUT`) naming
 * `message` and the last failure. Use it instead of fixed sleeps.
 */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  opts: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const timeout = opts.timeout ?? 30_000;
  const interval = opts.interval ?? 50;
  const { signal } = opts;
  const deadline = Date.now() + timeout;
  let attempts = 0;
  let lastError: unknown;
  let returnedFalse = false;

  while (true) {
    signal?.throwIfAborted();
    attempts += 1;
    const attempt = Promise.resolve().then(fn);
    // An attempt abandoned at the deadline may still reject later; never let that be unhandled.
    attempt.catch(() => undefined);
    try {
      const value = await settleWithin(attempt, deadline - Date.now(), signal);
      if (value === EXPIRED) break;
      if (value !== false) return value as Exclude<T, false>;
      returnedFalse = true;
      lastError = undefined;
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      lastError = err;
      returnedFalse = false;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await settleWithin(new Promise<never>(() => undefined), Math.min(interval, remaining), signal);
  }

  const what = opts.message ?? 'a condition';
  const last = returnedFalse
    ? 'it last returned false'
    : lastError === undefined
      ? 'the last attempt was still pending'
      : `last error: ${describeError(lastError)}`;
  throw new HarnessError(
    HarnessErrorCode.Timeout,
    `Timed out after ${timeout} ms waiting for ${what} (${attempts} attempts; ${last})`,
    { cause: lastError },
  );
}

/** Resolves with `p`'s value, or EXPIRED after `ms`; rejects with the signal's reason when aborted. */
function settleWithin<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | typeof EXPIRED> {
  return new Promise<T | typeof EXPIRED>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(EXPIRED);
      },
      Math.max(0, ms),
    );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (value) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
