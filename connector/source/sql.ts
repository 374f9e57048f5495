/** SQL helpers of the source's setup: identifiers quoted, a refused statement explained. */
import { ErrorCodes, SluiceError } from '../errors.js';

export function quoteIdent(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}

export function qualified(t: { schema: string; table: string }): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
}

/** A statement refused for lack of privilege, explained with the fix; other errors as they are. */
export function explainPrivilege(e: unknown, what: string): Error {
  const err = e as { code?: string; message?: string };
  if (err.code === '42501') {
    return new SluiceError(ErrorCodes.privileges, `Sluice may not ${what}: ${err.message}.`, {
      hint: 'Publications need CREATE on the database and ownership of the tables: run Sluice as the tables’ owner or a superuser, or create the publications yourself.',
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(String(e));
}
