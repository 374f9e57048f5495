/** Codes of {@link HarnessError}; tests branch on these, never on message text. */
export const HarnessErrorCode = {
  /** A server binary is missing or not executable; the message says how to install it. */
  BinaryNotFound: 'BINARY_NOT_FOUND',
  /** Running as root and no unprivileged `postgres` user exists to run PostgreSQL. */
  NoUnprivilegedUser: 'NO_UNPRIVILEGED_USER',
  /** A bad harness setting (e.g. `SLUICE_TEST_PG=16`); the message names the setting and the fix. */
  BadSetting: 'BAD_SETTING',
  /** A server exited or did not become ready while starting; the message ends with its log tail. */
  StartFailed: 'START_FAILED',
  /** A server did not exit in time after a shutdown signal and was killed. */
  StopFailed: 'STOP_FAILED',
  /** `eventually()` ran out of time; the message names what was waited for. */
  Timeout: 'TIMEOUT',
  /** The server was closed; it cannot be started again. */
  Closed: 'CLOSED',
  /** `closeAll()` could not close everything cleanly (leftovers were still killed and removed). */
  CleanupFailed: 'CLEANUP_FAILED',
} as const;

/** One of the {@link HarnessErrorCode} values. */
export type HarnessErrorCode = (typeof HarnessErrorCode)[keyof typeof HarnessErrorCode];

/** An error raised by the test harness, with a stable `code`. */
export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  /** What went wrong, as a stable code. */
  readonly code: HarnessErrorCode;

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The message of an unknown thrown value, for embedding in another error's message. */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(describeError).join('; ');
  }
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
