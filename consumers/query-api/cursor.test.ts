import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from './cursor.js';

describe('cursor', () => {
  it.each([[['1']], [['a,b', '2']], [[null, '7']], [['😀 "x"', '0']]])('round-trips %j', (values) => {
    expect(decodeCursor(encodeCursor(values), values.length)).toEqual(values);
  });

  it.each([
    ['not base64url', '!!!', 1],
    ['not JSON', Buffer.from('nope').toString('base64url'), 1],
    ['wrong width (another order)', encodeCursor(['1', '2']), 1],
    ['not strings', Buffer.from('[1]').toString('base64url'), 1],
  ])('refuses a cursor that is %s', (_why, cursor, width) => {
    expect(decodeCursor(cursor, width)).toBeNull();
  });
});
