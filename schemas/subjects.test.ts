import { describe, expect, it } from 'vitest';
import {
  deltaSubject,
  factSubject,
  heartbeatSubject,
  parseSubject,
  prefixedName,
  schemaSubject,
  streamNames,
  txSubject,
} from './subjects.js';
import { encodeKey, encodeName, NO_KEY_TOKEN } from './keys.js';

describe('subjects', () => {
  it('names every stream and bucket by one rule', () => {
    expect(prefixedName('my-app', 'LARGE')).toBe('MY_APP_LARGE');
    expect(streamNames('my-app').facts).toBe(prefixedName('my-app', 'FACTS'));
    expect(() => prefixedName('a.b', 'LARGE')).toThrow(/one subject token/);
  });

  it('names streams from the prefix', () => {
    expect(streamNames('cdc')).toEqual({
      facts: 'CDC_FACTS',
      deltas: 'CDC_DELTAS',
      dlq: 'CDC_DLQ',
      events: 'CDC_EVENTS',
    });
    expect(() => streamNames('a.b')).toThrow(/one subject token/);
  });

  it('builds and parses fact, delta and tx subjects', () => {
    const key = encodeKey([7, 2]);
    const f = factSubject('cdc', 'public', 'order_items', key);
    expect(f).toBe(`cdc.fact.public.order_items.${key}`);
    expect(parseSubject('cdc', f)).toEqual({ kind: 'fact', schema: 'public', table: 'order_items', key });
    const d = deltaSubject('cdc', 'public', 'My Table', 'truncate', NO_KEY_TOKEN);
    expect(parseSubject('cdc', d)).toMatchObject({ kind: 'delta', table: 'My Table', op: 'truncate' });
    expect(parseSubject('cdc', txSubject('cdc', 991))).toEqual({ kind: 'tx', txid: '991' });
    expect(parseSubject('other', f)).toBeNull();
    expect(schemaSubject('cdc', 'public', 'a.b')).toBe(`cdc.schema.public.${encodeName('a.b')}`);
    expect(parseSubject('cdc', schemaSubject('cdc', 'public', 'a.b'))).toEqual({
      kind: 'schema',
      schema: 'public',
      table: 'a.b',
    });
    expect(heartbeatSubject('cdc')).toBe('cdc.heartbeat');
    expect(parseSubject('cdc', heartbeatSubject('cdc'))).toEqual({ kind: 'heartbeat' });
  });
});
