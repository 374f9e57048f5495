/** SQL helpers of the source's setup: identifiers quoted, privilege errors explained. */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError } from '../errors.js';
import { explainPrivilege, qualified, quoteIdent } from './sql.js';

describe('sql helpers', () => {
  it('quotes identifiers', () => {
    expect(quoteIdent('Order "items"')).toBe('"Order ""items"""');
    expect(qualified({ schema: 'public', table: 'Orders' })).toBe('"public"."Orders"');
  });

  it('explains a refused statement with the fix, and leaves other errors as they are', () => {
    const refused = Object.assign(new Error('permission denied for database shop'), { code: '42501' });
    const e = explainPrivilege(refused, 'create publication sluice');
    expect(e).toBeInstanceOf(SluiceError);
    expect(e).toMatchObject({ code: ErrorCodes.privileges });
    expect(e.message).toBe('Sluice may not create publication sluice: permission denied for database shop.');
    const other = new Error('connection lost');
    expect(explainPrivilege(other, 'anything')).toBe(other);
  });
});
