import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError, sessionError } from './errors.js';

/** An error as a library throws it: a class name and, for pg, a SQLSTATE or errno code. */
function libraryError(name: string, code?: string): Error {
  const e = new Error('from a library') as Error & { code?: string };
  e.name = name;
  if (code !== undefined) e.code = code;
  return e;
}

describe('sessionError', () => {
  it.each([
    ['a SluiceError keeps its code', new SluiceError(ErrorCodes.slotInvalid, 'x'), ErrorCodes.slotInvalid],
    ['pg: connection failure (08006)', libraryError('error', '08006'), ErrorCodes.postgresUnreachable],
    ['pg: admin shutdown (57P01)', libraryError('error', '57P01'), ErrorCodes.postgresUnreachable],
    ['pg: crash shutdown (57P02)', libraryError('error', '57P02'), ErrorCodes.postgresUnreachable],
    ['pg: another SQLSTATE (42P01)', libraryError('error', '42P01'), ErrorCodes.sessionFailed],
    ['nats.js: ConnectionError', libraryError('ConnectionError'), ErrorCodes.natsUnreachable],
    ['nats.js: TimeoutError', libraryError('TimeoutError'), ErrorCodes.natsUnreachable],
    ['nats.js: NoResponders', libraryError('NoResponders'), ErrorCodes.natsUnreachable],
    ['anything else', new TypeError('oops'), ErrorCodes.sessionFailed],
    ['not an Error', 'a string', ErrorCodes.sessionFailed],
  ])('%s → its code', (_what, e, code) => {
    const err = sessionError(e);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err.code).toBe(code);
    if (!(e instanceof SluiceError)) expect(err.cause).toBe(e);
  });
});
