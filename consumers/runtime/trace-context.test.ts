import { describe, expect, it } from 'vitest';
import { traceIdOf } from './trace-context.js';

describe('traceIdOf', () => {
  it.each([
    [
      'traceId',
      { userId: 'u-17', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      '4bf92f3577b34da6a3ce929d0e0e4736',
    ],
    ['trace_id', { trace_id: 'abc' }, 'abc'],
    [
      'a W3C traceparent',
      { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01' },
      '4bf92f3577b34da6a3ce929d0e0e4736',
    ],
    ['no trace id', { userId: 'u-17' }, undefined],
    ['an empty one', { traceId: '' }, undefined],
    ['a number', { traceId: 17 }, undefined],
    ['a malformed traceparent', { traceparent: 'nope' }, undefined],
    ['no context', undefined, undefined],
    ['an array', ['traceId'], undefined],
    ['an over-long value', { traceId: 'x'.repeat(129) }, undefined],
  ])('%s', (_name, context, want) => {
    expect(traceIdOf(context)).toBe(want);
  });
});
