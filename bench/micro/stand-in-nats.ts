/**
 * A stand-in for a nats.js connection in the micro-benchmarks: per publish it does what nats.js 3.4
 * does (`_check`'s subject tests, the `HPUB` line as a string encoded with a TextEncoder, the
 * buffers queued and packed into one write per burst), and it answers each message with the ack
 * body JetStream sends (`{"stream":"…","seq":N}`), in send order, when asked to. Like nats-core's
 * connection it also has `protocol.sendCommand` (raw protocol bytes queued as they are, what the
 * sink's frame writer uses); the stand-in reads the reply subjects back from those frames, a cost
 * nats.js does not have, so the figure is a little high for that path.
 */
const TE = new TextEncoder();
const CRLF = TE.encode('\r\n');
const whitespace = /[ \n\r\t]/;

/** What nats.js does per publish and per flush, without a socket. */
export class StandInConnection {
  info = { max_payload: 1024 * 1024 };
  #callback: ((err: Error | null, msg: unknown) => void) | null = null;
  #buffers: Uint8Array[] = [];
  #bytes = 0;
  /** [reply subject, stream] of messages not acknowledged yet, in send order. */
  readonly unacked: [string, 0 | 1][] = [];
  readonly seq: [number, number] = [0, 0];
  written = 0;

  isClosed() {
    return false;
  }

  readonly protocol = {
    sendCommand: (b: Uint8Array) => {
      this.#push(b);
      const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
      let o = 0;
      while (o < buf.length) {
        const nl = buf.indexOf(0x0a, o);
        const [, subject, reply, , total] = buf.toString('latin1', o, nl - 1).split(' ');
        this.unacked.push([reply!, subject!.includes('.fact.') ? 0 : 1]);
        o = nl + 1 + Number(total) + 2;
      }
    },
  };

  subscribe(_subject: string, opts: { callback(err: Error | null, msg: unknown): void }) {
    this.#callback = opts.callback;
    return { unsubscribe() {} };
  }

  publish(subject: string, data: Uint8Array, options: { reply: string; headers: { encode(): Uint8Array } }) {
    if (subject.length === 0 || whitespace.test(subject)) throw new Error('bad subject');
    if (whitespace.test(options.reply)) throw new Error('bad reply');
    const hdrs = options.headers.encode();
    const proto = `HPUB ${subject} ${options.reply} ${hdrs.length} ${hdrs.length + data.length}\r\n`;
    this.#push(TE.encode(proto));
    this.#push(hdrs);
    this.#push(data);
    this.#push(CRLF);
    this.unacked.push([options.reply, subject.includes('.fact.') ? 0 : 1]);
  }

  #push(b: Uint8Array) {
    this.#buffers.push(b);
    this.#bytes += b.length;
  }

  /** The flush nats.js runs after a burst: pack the queued buffers into one write. */
  flush() {
    if (!this.#buffers.length) return;
    const out = new Uint8Array(this.#bytes);
    let o = 0;
    for (const b of this.#buffers) {
      out.set(b, o);
      o += b.length;
    }
    this.written += out.length;
    this.#buffers = [];
    this.#bytes = 0;
  }

  /** Acknowledges up to `n` messages in send order (acks may trigger more publishes). */
  ack(n: number) {
    for (let i = 0; i < n && this.unacked.length; i++) {
      const [reply, stream] = this.unacked.shift()!;
      const seq = ++this.seq[stream];
      const body = TE.encode(`{"stream":"${stream ? 'CDC_DELTAS' : 'CDC_FACTS'}","seq":${seq}}`);
      this.#callback!(null, { subject: reply, data: body, headers: undefined });
    }
  }
}
