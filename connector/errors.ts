/**
 * Sluice's own errors. Callers branch on `code`, never on message text. Errors a user can fix carry
 * a one-sentence `hint` naming the fix; the CLI prints `message` and `hint` without a stack trace.
 */

export const ErrorCodes = {
  config: 'SLUICE_CONFIG',
  postgresUnreachable: 'PG_UNREACHABLE',
  postgresAuth: 'PG_AUTH',
  walLevel: 'PG_WAL_LEVEL',
  privileges: 'PG_PRIVILEGES',
  slotInUse: 'PG_SLOT_IN_USE',
  slotMissing: 'PG_SLOT_MISSING',
  slotInvalid: 'PG_SLOT_INVALID',
  pgVersion: 'PG_VERSION',
  natsUnreachable: 'NATS_UNREACHABLE',
  jetstreamDisabled: 'NATS_NO_JETSTREAM',
  streamMismatch: 'NATS_STREAM_MISMATCH',
  streamMissing: 'NATS_STREAM_MISSING',
  publishFailed: 'NATS_PUBLISH_FAILED',
  protocol: 'PROTOCOL',
  sessionSettings: 'PG_SESSION_SETTINGS',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An error with a code and, when the user can fix it, a hint saying how. */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.hint = opts.hint;
  }
}

/** One line for a human: the message and, when known, the fix. */
export function describeError(err: unknown): string {
  if (err instanceof SluiceError) return err.hint ? `${err.message} ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Replaces the password of a URL with `***` so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  }
}
