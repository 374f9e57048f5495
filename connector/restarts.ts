/**
 * The restart loop of the daemon: a failed session is followed by another after a backoff, from
 * the durable checkpoint; an error a restart cannot fix stops the daemon with its explanation.
 */
import { ErrorCodes, SluiceError, sessionError } from './errors.js';
import { sleep } from './lifecycle.js';

/** Errors a restart cannot fix: the daemon stops with the explanation. */
export const FATAL_CODES: ReadonlySet<string> = new Set<string>([
  ErrorCodes.config,
  ErrorCodes.walLevel,
  ErrorCodes.privileges,
  ErrorCodes.pgVersion,
  ErrorCodes.postgresAuth,
  ErrorCodes.postgresTls,
  ErrorCodes.natsAuth,
  ErrorCodes.natsTls,
  ErrorCodes.streamMismatch,
  ErrorCodes.jetstreamDisabled,
  ErrorCodes.slotInvalid,
  ErrorCodes.slotConflict,
  ErrorCodes.noFreeSlots,
]);

export const FIRST_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;
/** A session that ran this long was healthy: the next failure starts the backoff over. */
export const HEALTHY_SESSION_MS = 60_000;

/**
 * The backoff after a failed session: `current` is the backoff the previous failure left, `ranMs`
 * how long the session ran. Returns the wait and the backoff the next failure starts from.
 * Losing the lease is no fault to back off from: stand by again at once.
 */
export function backoffAfter(
  current: number,
  ranMs: number,
  code: string,
): { waitMs: number; nextMs: number } {
  const waitMs = ranMs > HEALTHY_SESSION_MS || code === ErrorCodes.leaseLost ? FIRST_BACKOFF_MS : current;
  return { waitMs, nextMs: Math.min(waitMs * 2, MAX_BACKOFF_MS) };
}

export class RestartLoop {
  #wake: (() => void) | null = null;

  /** Ends a backoff's wait early (NATS came back). */
  wake(): void {
    this.#wake?.();
  }

  /**
   * Runs sessions until the signal aborts. `session` resolves when it ended cleanly; `failed` is
   * told of each restartable failure with the backoff it reports (the current one, before a reset
   * for a healthy session). Throws an error a restart cannot fix.
   */
  async run(
    signal: AbortSignal,
    session: () => Promise<void>,
    failed: (err: SluiceError, retryInMs: number) => Promise<void>,
  ): Promise<void> {
    let backoffMs = FIRST_BACKOFF_MS;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await session();
      } catch (e) {
        // Every error that ends a session has a code (libraries' errors are classified).
        const err = sessionError(e);
        if (FATAL_CODES.has(err.code)) throw err;
        if (signal.aborted) break;
        await failed(err, backoffMs);
        const { waitMs, nextMs } = backoffAfter(backoffMs, Date.now() - started, err.code);
        const wake = new AbortController();
        this.#wake = () => wake.abort();
        await sleep(waitMs, AbortSignal.any([signal, wake.signal]));
        this.#wake = null;
        backoffMs = nextMs;
      }
    }
  }
}
