import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readContextMessage, readOutboxMessage } from './outbox-messages.js';
import { defineEventContracts } from '../../schemas/outbox.js';

const contracts = defineEventContracts({
  'order.placed': z.object({ orderId: z.string(), total: z.string().regex(/^\d+\.\d\d$/) }),
});

describe('readOutboxMessage', () => {
  it.each([
    [
      'a valid message',
      '{"type":"order.placed","key":"42","payload":{"orderId":"42","total":"9.99"}}',
      '{"orderId":"42","total":"9.99"}',
    ],
    ['a type without a contract', '{"type":"note","key":"k","payload":[1,2]}', '[1,2]'],
    ['a null payload', '{"type":"note","key":"k","payload":null}', 'null'],
    [
      'whitespace kept inside, trimmed outside',
      '{ "type": "note", "key": "", "payload":  {"a": 1} }',
      '{"a": 1}',
    ],
    [
      'a big integer, exact',
      '{"type":"note","key":"k","payload":{"n":123456789012345678901234567890}}',
      '{"n":123456789012345678901234567890}',
    ],
  ])('publishes %s', (_name, text, payload) => {
    const r = readOutboxMessage(Buffer.from(text), contracts);
    expect(r).toMatchObject({ ok: true, payload });
  });

  it.each([
    ['not JSON', '{"type":', 'unreadable', undefined, 'not JSON'],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'unreadable', undefined, 'not JSON'],
    ['a numeric key', '{"type":"a","key":1,"payload":{}}', 'invalid', 'a', 'key:'],
    ['no payload', '{"type":"a","key":"1"}', 'invalid', 'a', 'payload'],
    ['a type that is no subject', '{"type":"a b","key":"1","payload":{}}', 'invalid', 'a b', 'type:'],
    ['a type with a wildcard', '{"type":"a.>","key":"1","payload":{}}', 'invalid', 'a.>', 'type:'],
    ['an array', '[1]', 'invalid', undefined, 'message'],
    [
      'a payload breaking its contract',
      '{"type":"order.placed","key":"42","payload":{"orderId":42,"total":"9.9"}}',
      'contract',
      'order.placed',
      'orderId',
    ],
  ])('dead-letters %s', (_name, text, reason, type, mentions) => {
    const r = readOutboxMessage(typeof text === 'string' ? Buffer.from(text) : text, contracts);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe(reason);
    expect(r.type).toBe(type);
    expect(r.error).toContain(mentions as string);
  });

  it('names every broken field of a contract, up to five', () => {
    const r = readOutboxMessage(
      Buffer.from('{"type":"order.placed","key":"42","payload":{"orderId":42,"total":"9.9"}}'),
      contracts,
    );
    expect(r).toMatchObject({ ok: false });
    expect(!r.ok && r.error).toMatch(/orderId: .*; total: /);
  });
});

describe('readContextMessage', () => {
  it.each([
    ['an object', '{"userId":"u1","traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}', true],
    ['a big integer, kept as emitted', '{"n":123456789012345678901234567890}', true],
    ['an array', '[1]', false],
    ['a string', '"u1"', false],
    ['null', 'null', false],
    ['not JSON', '{', false],
    ['too large', JSON.stringify({ x: 'y'.repeat(9000) }), false],
  ])('%s', (_name, text, ok) => {
    const r = readContextMessage(Buffer.from(text));
    expect(r.ok).toBe(ok);
    if (r.ok) expect(r.json).toBe(text);
    else expect(r.error).toMatch(/ignored/);
  });
});

describe('defineEventContracts', () => {
  it.each([
    ['a type that is no subject', { 'a b': z.object({}) }, /dot-separated/],
    ['a contract that is no schema', { a: {} as never }, /zod schema/],
  ])('refuses %s', (_name, c, msg) => {
    expect(() => defineEventContracts(c)).toThrow(msg);
  });
});
