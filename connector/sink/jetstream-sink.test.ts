import { describe, expect, it } from 'vitest';
import { ackSeq, encodeBody, wireMessage } from './jetstream-sink.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('ackSeq', () => {
  it('reads the sequence of a plain JetStream ack', () => {
    expect(ackSeq(bytes('{"stream":"CDC_DELTAS","seq":1}'))).toBe(1);
    expect(ackSeq(bytes('{"stream":"CDC_FACTS","seq":9007199254740991}'))).toBe(9007199254740991);
    expect(ackSeq(bytes('{"stream":"a-b_c","seq":1234567890}'))).toBe(1234567890);
  });

  it('leaves everything else to the JSON path (null)', () => {
    for (const body of [
      '',
      '{"stream":"S","seq":5,"duplicate":true}',
      '{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 4"},"stream":"S","seq":0}',
      '{"stream":"S","domain":"hub","seq":5}',
      '{"stream":"S\\",\\"x\\":\\"","seq":5}',
      '{"stream":"S","seq":}',
      '{"stream":"S","seq":12345678901234567890}',
      '{"stream":"S","seq":5} ',
      '{"seq":5}',
      '{"streams":"S","seq":5}',
      'garbage',
    ]) {
      expect(ackSeq(bytes(body)), body).toBeNull();
    }
  });

  it('agrees with JSON.parse whenever it answers', () => {
    for (let seq = 0; seq < 2000; seq += 7) {
      const body = JSON.stringify({ stream: `S${seq % 13}`, seq });
      expect(ackSeq(bytes(body))).toBe((JSON.parse(body) as { seq: number }).seq);
    }
  });
});

describe('wireMessage', () => {
  it('puts the NATS header block and the UTF-8 body in one buffer', () => {
    const body = '{"row":{"name":"Zoë ✓ 𝄞"}}';
    const w = wireMessage(
      'src:0000000000000001-00000002:fact',
      '\r\nNats-Expected-Last-Sequence: ',
      41,
      body,
    );
    const head = w.headers.encode();
    expect(Buffer.from(head).toString('latin1')).toBe(
      'NATS/1.0\r\nNats-Msg-Id: src:0000000000000001-00000002:fact\r\nNats-Expected-Last-Sequence: 41\r\n\r\n',
    );
    expect(Buffer.from(w.body).toString('utf8')).toBe(body);
    expect(w.body.length).toBe(Buffer.byteLength(body));
  });

  it('never reuses slab memory a message still holds (many messages, several slabs)', () => {
    const kept: [Uint8Array, string][] = [];
    for (let i = 0; i < 5000; i++) {
      const body = `{"n":${i},"s":"${'é'.repeat(i % 700)}"}`;
      kept.push([encodeBody(body), body]);
    }
    for (const [bytes, body] of kept) expect(Buffer.from(bytes).toString('utf8')).toBe(body);
    // A body larger than a slab gets its own.
    const big = 'x'.repeat(3 << 20);
    expect(Buffer.from(encodeBody(big)).toString('latin1')).toBe(big);
    expect(Buffer.from(kept[4999]![0]).toString('utf8')).toBe(kept[4999]![1]);
  });

  it('appends further header lines (the leader header under HA) before the blank line', () => {
    const w = wireMessage('id1', '\r\nNats-Expected-Last-Sequence: ', 7, '{}', 'Sluice-Leader: a\r\n');
    expect(Buffer.from(w.headers.encode()).toString('latin1')).toBe(
      'NATS/1.0\r\nNats-Msg-Id: id1\r\nNats-Expected-Last-Sequence: 7\r\nSluice-Leader: a\r\n\r\n',
    );
    expect(Buffer.from(w.body).toString('utf8')).toBe('{}');
  });

  it('handles an empty body', () => {
    const w = wireMessage('x', '\r\nNats-Expected-Last-Subject-Sequence: ', 0, '');
    expect(w.body.length).toBe(0);
    expect(Buffer.from(w.headers.encode()).toString('latin1')).toBe(
      'NATS/1.0\r\nNats-Msg-Id: x\r\nNats-Expected-Last-Subject-Sequence: 0\r\n\r\n',
    );
  });
});
