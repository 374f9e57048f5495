import { describe, expect, it } from 'vitest';
import { EXPECTED_SEQ, EXPECTED_SUBJECT_SEQ, FrameWriter } from './frames.js';

/** The frame written independently: the NATS protocol's HPUB, as the protocol documents it. */
function expected(subject: string, reply: string, headerBlock: string, body: string): Buffer {
  const h = Buffer.from(headerBlock, 'latin1');
  const b = Buffer.from(body, 'utf8');
  return Buffer.concat([
    Buffer.from(`HPUB ${subject} ${reply} ${h.length} ${h.length + b.length}\r\n`),
    h,
    b,
    Buffer.from('\r\n'),
  ]);
}

describe('FrameWriter', () => {
  it('writes HPUB frames byte for byte and hands them over at the end of the microtask', async () => {
    const sent: Buffer[] = [];
    const w = new FrameWriter((b) => sent.push(Buffer.from(b)));
    const body = '{"row":{"name":"Zoë ✓ 𝄞"}}';
    const size = w.hpub(
      'cdc.fact.public.t.1',
      '_INBOX.x',
      7,
      'src:1:fact',
      EXPECTED_SEQ,
      41,
      '',
      Buffer.from(body),
    );
    w.hpub(
      'cdc.events.a',
      '_INBOX.x',
      8,
      'e:2',
      EXPECTED_SUBJECT_SEQ,
      0,
      'Sluice-Leader: a\r\n',
      Buffer.from(''),
    );
    expect(sent).toEqual([]); // not yet: the rest of this microtask may add more
    await null;
    expect(Buffer.concat(sent)).toEqual(
      Buffer.concat([
        expected(
          'cdc.fact.public.t.1',
          '_INBOX.x.7',
          'NATS/1.0\r\nNats-Msg-Id: src:1:fact\r\nNats-Expected-Last-Sequence: 41\r\n\r\n',
          body,
        ),
        expected(
          'cdc.events.a',
          '_INBOX.x.8',
          'NATS/1.0\r\nNats-Msg-Id: e:2\r\nNats-Expected-Last-Subject-Sequence: 0\r\nSluice-Leader: a\r\n\r\n',
          '',
        ),
      ]),
    );
    expect(sent).toHaveLength(1); // one burst
    expect(size).toBe(
      Buffer.byteLength('NATS/1.0\r\nNats-Msg-Id: src:1:fact\r\nNats-Expected-Last-Sequence: 41\r\n\r\n') +
        Buffer.byteLength(body),
    );
  });

  it('keeps every frame whole and in order across bursts and slabs, and never rewrites a burst it handed over', async () => {
    const sent: Buffer[] = [];
    const views: Uint8Array[] = [];
    // Small slabs and bursts: most frames start a new slab or end a burst.
    const w = new FrameWriter(
      (b) => {
        views.push(b);
        sent.push(Buffer.from(b));
      },
      512,
      300,
    );
    const want: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const body = `{"i":${i},"s":"${'ü'.repeat(i % 97)}"}`;
      w.hpub(`cdc.delta.t.${i}`, '_I', i, `id${i}`, EXPECTED_SEQ, i, '', Buffer.from(body));
      want.push(
        expected(
          `cdc.delta.t.${i}`,
          `_I.${i}`,
          `NATS/1.0\r\nNats-Msg-Id: id${i}\r\nNats-Expected-Last-Sequence: ${i}\r\n\r\n`,
          body,
        ),
      );
      if (i % 50 === 0) await null;
    }
    await null;
    expect(Buffer.concat(sent)).toEqual(Buffer.concat(want));
    expect(sent.length).toBeGreaterThan(10);
    // The views handed over still hold what they held then.
    expect(Buffer.concat(views)).toEqual(Buffer.concat(sent));
    // Every burst ends at a frame boundary: it ends in CRLF and the next starts with HPUB.
    for (const b of sent) {
      expect(b.subarray(0, 5).toString()).toBe('HPUB ');
      expect(b.subarray(-2).toString()).toBe('\r\n');
    }
  });

  it('gives a frame larger than a slab a slab of its own', async () => {
    const sent: Buffer[] = [];
    const w = new FrameWriter((b) => sent.push(Buffer.from(b)), 256, 1 << 20);
    const big = 'x'.repeat(10_000);
    w.hpub('s.a', '_I', 1, 'a', EXPECTED_SEQ, 1, '', Buffer.from('small'));
    w.hpub('s.b', '_I', 2, 'b', EXPECTED_SEQ, 2, '', Buffer.from(big));
    await null;
    expect(Buffer.concat(sent)).toEqual(
      Buffer.concat([
        expected(
          's.a',
          '_I.1',
          'NATS/1.0\r\nNats-Msg-Id: a\r\nNats-Expected-Last-Sequence: 1\r\n\r\n',
          'small',
        ),
        expected('s.b', '_I.2', 'NATS/1.0\r\nNats-Msg-Id: b\r\nNats-Expected-Last-Sequence: 2\r\n\r\n', big),
      ]),
    );
  });
});
