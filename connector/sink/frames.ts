/**
 * Publish frames in NATS wire form, written back to back into slab memory and handed to the
 * connection one burst at a time: `HPUB <subject> <reply> <header bytes> <total bytes>\r\n`, the
 * header block, the body and CRLF, exactly what nats.js' `publish()` would queue for the message,
 * without its per-message work (the protocol line as a string encoded on its own, four buffers
 * queued, then all of them copied into one before the socket write).
 *
 * A burst is flushed at the end of the current microtask (nats.js flushes its own queue then too)
 * or as soon as it reaches `burstBytes`, so a long run of publishes reaches the socket in
 * bounded chunks. Slab memory is never reused: a burst handed over stays valid until the
 * connection has written it and dropped it.
 */

/** The start of every header block, and the names of the expected-sequence headers. */
export const HDR_START = 'NATS/1.0\r\nNats-Msg-Id: ';
export const EXPECTED_SEQ = '\r\nNats-Expected-Last-Sequence: ';
export const EXPECTED_SUBJECT_SEQ = '\r\nNats-Expected-Last-Subject-Sequence: ';

/** Bytes of the header block `HDR_START id header seq CRLF extra CRLF` (all latin1). */
export function headerBytes(id: string, header: string, seq: string, extra: string): number {
  return HDR_START.length + id.length + header.length + seq.length + extra.length + 4;
}

/** Writes that header block at `o` of `buf`; returns the offset after it. */
export function writeHeader(
  buf: Buffer,
  o: number,
  id: string,
  header: string,
  seq: string,
  extra: string,
): number {
  o += buf.write(HDR_START, o, 'latin1');
  o += buf.write(id, o, 'latin1');
  o += buf.write(header, o, 'latin1');
  o += buf.write(seq, o, 'latin1');
  o += buf.write('\r\n', o, 'latin1');
  if (extra) o += buf.write(extra, o, 'latin1');
  return o + buf.write('\r\n', o, 'latin1');
}

export class FrameWriter {
  readonly #send: (bytes: Uint8Array) => void;
  readonly #slabBytes: number;
  readonly #burstBytes: number;
  #slab: Buffer;
  #used = 0;
  /** Start of the bytes not handed over yet. */
  #burst = 0;
  #scheduled = false;
  readonly #flushTask = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /**
   * @param send hands a burst of whole frames to the connection, in order
   * @param slabBytes size of each slab (a larger frame gets a slab of its own)
   * @param burstBytes a burst this large is handed over at once
   */
  constructor(send: (bytes: Uint8Array) => void, slabBytes = 1 << 20, burstBytes = 64 << 10) {
    this.#send = send;
    this.#slabBytes = slabBytes;
    this.#burstBytes = burstBytes;
    this.#slab = Buffer.allocUnsafeSlow(slabBytes);
  }

  /**
   * Appends one publish: `body` (its UTF-8 bytes) on `subject` with reply `<inbox>.<n>`, under the
   * header block of `id`, `header` + `seq` and `extra` lines. Returns the frame's payload size
   * (header block and body), what nats-server compares with its max_payload.
   */
  hpub(
    subject: string,
    inbox: string,
    n: number,
    id: string,
    header: string,
    seq: number,
    extra: string,
    body: Uint8Array,
  ): number {
    const seqText = String(seq);
    const hlen = headerBytes(id, header, seqText, extra);
    const total = hlen + body.length;
    const line = `HPUB ${subject} ${inbox}.${n} ${hlen} ${total}\r\n`;
    const need = line.length * 3 + total + 2;
    if (this.#used + need > this.#slab.length) {
      this.flush();
      this.#slab = Buffer.allocUnsafeSlow(Math.max(this.#slabBytes, need));
      this.#used = this.#burst = 0;
    }
    const buf = this.#slab;
    let o = this.#used;
    o += buf.write(line, o, 'utf8');
    o = writeHeader(buf, o, id, header, seqText, extra);
    buf.set(body, o);
    o += body.length;
    buf[o++] = 0x0d;
    buf[o++] = 0x0a;
    this.#used = o;
    if (o - this.#burst >= this.#burstBytes) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
    return total;
  }

  /** Hands over what was written and not handed over yet. */
  flush(): void {
    if (this.#used === this.#burst) return;
    const chunk = this.#slab.subarray(this.#burst, this.#used);
    this.#burst = this.#used;
    this.#send(chunk);
  }
}
