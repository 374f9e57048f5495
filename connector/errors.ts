/**
 * Sluice's own errors. Callers branch on `code`, never on message text. Errors a user can fix carry
 * a one-sentence `hint` naming the fix; the CLI prints `message` and `hint` without a stack trace.
 */
import { NatsConnectError, NatsConnectFailures } from '../connections/nats-connect.js';

export const ErrorCodes = {
  config: 'SLUICE_CONFIG',
  postgresUnreachable: 'PG_UNREACHABLE',
  postgresAuth: 'PG_AUTH',
  walLevel: 'PG_WAL_LEVEL',
  privileges: 'PG_PRIVILEGES',
  slotInUse: 'PG_SLOT_IN_USE',
  slotConflict: 'PG_SLOT_CONFLICT',
  noFreeSlots: 'PG_NO_FREE_SLOTS',
  slotMissing: 'PG_SLOT_MISSING',
  slotInvalid: 'PG_SLOT_INVALID',
  pgVersion: 'PG_VERSION',
  /** TLS to PostgreSQL failed: untrusted server certificate, no TLS on the server, client certificate refused. */
  postgresTls: 'PG_TLS',
  natsUnreachable: 'NATS_UNREACHABLE',
  /** NATS refused the credentials (user/password, token, NKey, credentials file). */
  natsAuth: 'NATS_AUTH',
  /** TLS to NATS failed: untrusted server certificate, client certificate refused. */
  natsTls: 'NATS_TLS',
  jetstreamDisabled: 'NATS_NO_JETSTREAM',
  streamMismatch: 'NATS_STREAM_MISMATCH',
  streamMissing: 'NATS_STREAM_MISSING',
  publishFailed: 'NATS_PUBLISH_FAILED',
  protocol: 'PROTOCOL',
  sessionSettings: 'PG_SESSION_SETTINGS',
  /** The connector's leader lease is held by another replica, or was lost (docs/operations.md#high-availability). */
  leaseLost: 'LEASE_LOST',
  /** A session ended for a reason no other code names (the message says which). */
  sessionFailed: 'SESSION_FAILED',
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

/**
 * The error that ended a session, with a code: a SluiceError as it is; anything else (an error a
 * library threw) wrapped with the code of what it means — PostgreSQL gone (SQLSTATE class 08,
 * 57P01–57P03 shutdowns, a refused or reset connection to it), NATS gone (nats.js's connection
 * errors), the protocol broken (pgoutput decoding) — or SESSION_FAILED. Branches on codes and
 * error classes, never on message text.
 */
export function sessionError(e: unknown): SluiceError {
  if (e instanceof SluiceError) return e;
  const err = (e ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  const message = err.message ? String(err.message) : String(e);
  const code = typeof err.code === 'string' ? err.code : '';
  const name = typeof err.name === 'string' ? err.name : '';
  let c: ErrorCode = ErrorCodes.sessionFailed;
  if (/^08...$/.test(code) || /^57P0[123]$/.test(code)) c = ErrorCodes.postgresUnreachable;
  else if (name === 'PgoutputProtocolError') c = ErrorCodes.protocol;
  else if (
    /^(ConnectionError|ClosedConnectionError|DrainingConnectionError|TimeoutError|NoResponders|RequestError)$/.test(
      name,
    )
  )
    c = ErrorCodes.natsUnreachable;
  return new SluiceError(c, message, { cause: e });
}

/** One line for a human: the message and, when known, the fix. */
export function describeError(err: unknown): string {
  if (err instanceof SluiceError) return err.hint ? `${err.message} ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A failed connection to NATS as a SluiceError with its code (auth, TLS, config, unreachable). */
export function natsConnectError(e: unknown): SluiceError {
  if (e instanceof SluiceError) return e;
  if (e instanceof NatsConnectError) {
    const code = {
      [NatsConnectFailures.config]: ErrorCodes.config,
      [NatsConnectFailures.auth]: ErrorCodes.natsAuth,
      [NatsConnectFailures.tls]: ErrorCodes.natsTls,
      [NatsConnectFailures.unreachable]: ErrorCodes.natsUnreachable,
    }[e.code];
    return new SluiceError(code, e.message, { hint: e.hint, cause: e });
  }
  return new SluiceError(ErrorCodes.natsUnreachable, `cannot reach NATS: ${describeError(e)}.`, { cause: e });
}
