import { describe, expect, it } from 'vitest';
import type { ChangeSink, OutMessage } from '../ports.js';
import { ClaimCheckSink, DOMAIN_EMPTIED, fitsInMessage, referenceBody } from './claim-check.js';

const event = (data: string) =>
  `{"specversion":"1.0","id":"s:1:fact","source":"sluice/s","type":"io.sluice.fact","data":${data}}`;

function recordingSink(): ChangeSink & { out: (OutMessage | null)[] } {
  const out: (OutMessage | null)[] = [];
  return {
    out,
    capacity: () => undefined,
    drained: async () => undefined,
    begin: () => ({ endLsn: null }),
    commit: () => undefined,
    publishChange: (_t, d, f) => void out.push(d, f),
    publishDelta: () => undefined,
    publishShared: () => undefined,
  };
}

describe('claim check', () => {
  it('decides whether a body fits by its UTF-8 size plus the overhead', () => {
    expect(fitsInMessage('a'.repeat(100), 1124)).toBe(true);
    expect(fitsInMessage('a'.repeat(101), 1124)).toBe(false);
    expect(fitsInMessage('é'.repeat(50), 1124)).toBe(true); // 100 bytes
    expect(fitsInMessage('é'.repeat(51), 1124)).toBe(false);
  });

  it('replaces the bulky members by their empty value and names the stored body', () => {
    const body = event('{"table":"public.t","row":{"id":1,"n":12345678901234567890},"version":"v"}');
    const ref = referenceBody(body, 'CDC_LARGE', 'x');
    expect(ref).toBe(
      event(
        `{"table":"public.t","row":null,"version":"v","dataref":{"store":"CDC_LARGE","name":"x","bytes":${Buffer.byteLength(body)}}}`,
      ),
    );
    const domain = event('{"type":"order.placed","payload":{"a":1},"context":{"n":12345678901234567890}}');
    expect(referenceBody(domain, 'CDC_LARGE', 'y', DOMAIN_EMPTIED)).toContain(
      '"payload":null,"context":{"n":12345678901234567890},"dataref"',
    );
  });

  it('stores an oversized event and publishes its reference in its place, in order', async () => {
    const sink = recordingSink();
    const stored: string[] = [];
    let counted = 0;
    const cc = new ClaimCheckSink(
      sink,
      { maxPayload: 4096, store: 'CDC_LARGE', put: async (name) => void stored.push(name) },
      () => counted++,
    );
    const small = { subject: 'd', id: 'd1', body: event('{"changes":{}}') };
    expect(cc.publishChange({ endLsn: null }, small, null)).toBeUndefined();
    const big = { subject: 'f', id: 'f1', body: event(`{"row":{"s":"${'x'.repeat(5000)}"}}`) };
    await cc.publishChange({ endLsn: null }, small, big);
    expect(stored).toEqual(['f1']);
    expect(counted).toBe(1);
    expect(sink.out[2]).toBe(small);
    expect(sink.out[3]!.body).toContain('"row":null,"dataref":{"store":"CDC_LARGE","name":"f1"');
  });

  it('passes every event through without a large-event store (no limit known)', () => {
    const cc = new ClaimCheckSink(recordingSink(), undefined);
    const big = { subject: 'f', id: 'f1', body: 'x'.repeat(10) };
    expect(cc.publishChange({ endLsn: null }, big, null)).toBeUndefined();
  });
});
