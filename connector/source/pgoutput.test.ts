import { describe, expect, it } from 'vitest';
import { decodePgoutput, pgTimestampToIso, PgoutputProtocolError } from './pgoutput.js';
import { ErrorCodes, sessionError } from '../errors.js';

/** Builds protocol bytes the way the walsender writes them. */
class W {
  parts: Buffer[] = [];
  u8(v: number) {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  i16(v: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }
  str(s: string) {
    this.parts.push(Buffer.from(s + '\0', 'utf8'));
    return this;
  }
  text(s: string) {
    const b = Buffer.from(s, 'utf8');
    return this.u8(0x74).i32(b.length).raw(b);
  }
  raw(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  done() {
    return Buffer.concat(this.parts);
  }
}

describe('pgoutput decoder', () => {
  it('decodes begin and commit with bigint LSNs', () => {
    const begin = new W().u8(0x42).u64(0x1_0000_00a0n).u64(10n).i32(771).done();
    expect(decodePgoutput(begin)).toEqual({
      tag: 'begin',
      finalLsn: 0x1_0000_00a0n,
      commitTime: 10n,
      xid: 771,
    });
    const commit = new W().u8(0x43).u8(0).u64(0x1_0000_00a0n).u64(0x1_0000_00d0n).u64(11n).done();
    expect(decodePgoutput(commit)).toMatchObject({
      tag: 'commit',
      commitLsn: 0x1_0000_00a0n,
      endLsn: 0x1_0000_00d0n,
    });
  });

  it('decodes a relation with key flags', () => {
    const rel = new W()
      .u8(0x52)
      .i32(16384)
      .str('public')
      .str('orders')
      .u8(0x64)
      .i16(2)
      .u8(1)
      .str('id')
      .i32(20)
      .i32(-1)
      .u8(0)
      .str('note')
      .i32(25)
      .i32(-1)
      .done();
    expect(decodePgoutput(rel)).toEqual({
      tag: 'relation',
      relationId: 16384,
      schema: 'public',
      table: 'orders',
      replicaIdentity: 'default',
      columns: [
        { isKey: true, name: 'id', typeOid: 20, typeMod: -1 },
        { isKey: false, name: 'note', typeOid: 25, typeMod: -1 },
      ],
    });
  });

  it('keeps text exact and tells NULL from unchanged TOAST', () => {
    const upd = new W()
      .u8(0x55)
      .i32(16384)
      .u8(0x4b)
      .i16(3)
      .text('9007199254740993')
      .u8(0x6e)
      .u8(0x6e)
      .u8(0x4e)
      .i16(3)
      .text('9007199254740994')
      .u8(0x6e)
      .u8(0x75)
      .done();
    expect(decodePgoutput(upd)).toEqual({
      tag: 'update',
      relationId: 16384,
      keyTuple: ['9007199254740993', null, null],
      oldTuple: null,
      newTuple: ['9007199254740994', null, undefined],
    });
  });

  it('decodes unicode text, deletes, truncates and messages', () => {
    const ins = new W().u8(0x49).i32(7).u8(0x4e).i16(1).text('😀 ü').done();
    expect(decodePgoutput(ins)).toEqual({ tag: 'insert', relationId: 7, newTuple: ['😀 ü'] });
    const del = new W().u8(0x44).i32(7).u8(0x4f).i16(1).text('x').done();
    expect(decodePgoutput(del)).toEqual({ tag: 'delete', relationId: 7, keyTuple: null, oldTuple: ['x'] });
    const tr = new W().u8(0x54).i32(2).u8(3).i32(7).i32(8).done();
    expect(decodePgoutput(tr)).toEqual({
      tag: 'truncate',
      relationIds: [7, 8],
      cascade: true,
      restartIdentity: true,
    });
    const msg = new W().u8(0x4d).u8(1).u64(5n).str('sluice').i32(2).raw(Buffer.from('{}')).done();
    expect(decodePgoutput(msg)).toMatchObject({
      tag: 'message',
      transactional: true,
      lsn: 5n,
      prefix: 'sluice',
    });
  });

  it("copies a logical message's content out of the read buffer, which pg reuses", () => {
    const buf = new W().u8(0x4d).u8(1).u64(5n).str('sluice-watermark').i32(2).raw(Buffer.from('{}')).done();
    const decoded = decodePgoutput(buf) as { content: Buffer };
    buf.fill(0x78); // the socket's next bytes land in the same buffer
    expect(decoded.content.toString()).toBe('{}');
  });

  it('rejects unknown message types', () => {
    expect(() => decodePgoutput(Buffer.from([0x5a]))).toThrow(PgoutputProtocolError);
  });

  it.each([
    [0n, '2000-01-01T00:00:00.000000Z'],
    [1n, '2000-01-01T00:00:00.000001Z'],
    [789_123_456_789_012n, '2025-01-02T08:57:36.789012Z'],
    [-1n, '1999-12-31T23:59:59.999999Z'],
  ])('formats PostgreSQL timestamp %s as %s', (us, iso) => {
    expect(pgTimestampToIso(us)).toBe(iso);
  });
});

describe('a decoding error ending a session', () => {
  it('is classified as a protocol error (errors.ts sessionError)', () => {
    const e = new PgoutputProtocolError('bad byte');
    const err = sessionError(e);
    expect(err.code).toBe(ErrorCodes.protocol);
    expect(err.cause).toBe(e);
  });
});
