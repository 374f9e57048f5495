/**
 * Errors of the consumer runtime. Callers branch on `code`; errors a user can fix carry a
 * one-sentence `hint` naming the fix (the CLI prints message and hint, no stack trace).
 */

export const ConsumerErrorCodes = {
  /** A consumer definition or runtime setting is invalid. */
  config: 'CONSUMER_CONFIG',
  /** A module given to `sluice consumers run` cannot be loaded or exports no consumer. */
  module: 'CONSUMER_MODULE',
  /** A stream, durable consumer or dead letter that was named does not exist. */
  notFound: 'CONSUMER_NOT_FOUND',
  /** JetStream refused or did not answer. */
  nats: 'CONSUMER_NATS',
} as const;
export type ConsumerErrorCode = (typeof ConsumerErrorCodes)[keyof typeof ConsumerErrorCodes];

export class ConsumerError extends Error {
  readonly code: ConsumerErrorCode;
  readonly hint: string | undefined;
  constructor(code: ConsumerErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConsumerError';
    this.code = code;
    this.hint = opts.hint;
  }
}
