import { describe, expect, it } from 'vitest';
import {
  decodeKey,
  decodeKvName,
  decodeName,
  encodeKey,
  encodeKeyFragments,
  encodeKvName,
  encodeName,
  NO_KEY_TOKEN,
} from './keys.js';

describe('key encoding', () => {
  it.each([
    [[42], '42'],
    [[-7], '-7'],
    [['abc_DEF-1'], 'abc_DEF-1'],
    [['9007199254740993'], '9007199254740993'],
    [[true], 'true'],
    [['0b7f4c3e-6a1d-4b8e-9c59-1f0e2d3c4b5a'], '0b7f4c3e-6a1d-4b8e-9c59-1f0e2d3c4b5a'],
  ])('keeps plain single key %j as %s', (values, token) => {
    expect(encodeKey(values)).toBe(token);
  });

  it.each([
    [[1, 2]],
    [['a.b']],
    [['with space']],
    [['']],
    [['x'.repeat(129)]],
    [['😀']],
    [[1.5]],
    [['~tilde']],
    [[null, 'a']],
  ])('encodes %j reversibly with ~base64url', (values) => {
    const token = encodeKey(values);
    expect(token.startsWith('~')).toBe(true);
    expect(token).toMatch(/^~[A-Za-z0-9_-]+$/);
    expect(decodeKey(token)).toEqual(values);
  });

  it('is deterministic and agrees between values and fragments', () => {
    expect(encodeKey([1, 'x'])).toBe(encodeKey([1, 'x']));
    expect(encodeKeyFragments(['1', '"x"'])).toBe(encodeKey([1, 'x']));
    expect(encodeKeyFragments(['"42"'])).toBe('42');
  });

  it('decodes a plain token to its text', () => {
    expect(decodeKey('42')).toEqual(['42']);
    expect(() => decodeKey('a.b')).toThrow(/not a Sluice key token/);
  });

  it('never produces the no-key token', () => {
    expect(() => decodeKey(NO_KEY_TOKEN)).toThrow();
  });

  it.each(['orders', 'Order Items', 'weird.name', 'ünï'])('round-trips name %s', (name) => {
    const token = encodeName(name);
    expect(token).toMatch(/^[~A-Za-z0-9_-]+$/);
    expect(decodeName(token)).toBe(name);
  });
});

describe('KV name encoding', () => {
  it.each(['orders', 'Odd Schema', 'a.b', 'ünï', '~x'])('round-trips %s with KV-safe characters', (name) => {
    const token = encodeKvName(name);
    expect(token).toMatch(/^[-_=A-Za-z0-9]+$/);
    expect(decodeKvName(token)).toBe(name);
  });
});
