/**
 * Errors of the read models. Callers branch on `code`; an error a user can fix carries a
 * one-sentence `hint` (the CLI prints message and hint on one line, no stack trace).
 */

export const ReadModelErrorCodes = {
  config: 'SLUICE_CONFIG',
  unsupportedSql: 'READ_MODEL_UNSUPPORTED_SQL',
  unknownTable: 'READ_MODEL_UNKNOWN_TABLE',
  readDatabase: 'READ_MODEL_DATABASE',
  busy: 'READ_MODEL_BUSY',
  unknownModel: 'READ_MODEL_UNKNOWN',
  httpPort: 'READ_MODEL_HTTP_PORT',
} as const;
export type ReadModelErrorCode = (typeof ReadModelErrorCodes)[keyof typeof ReadModelErrorCodes];

/** An error with a code and, when the user can fix it, a hint saying how. */
export class ReadModelError extends Error {
  readonly code: ReadModelErrorCode;
  readonly hint: string | undefined;
  constructor(code: ReadModelErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ReadModelError';
    this.code = code;
    this.hint = opts.hint;
  }
}
