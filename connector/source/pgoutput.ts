/**
 * Decoder of the pgoutput logical replication protocol, version 1, text format.
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 *
 * Sluice decodes pgoutput itself instead of using pg-logical-replication's parser: that parser runs
 * every value through pg's global type parsers (timestamps become Date and lose microseconds,
 * `timestamp` is read in the process time zone), turns LSNs into strings, and cannot tell an
 * unchanged TOAST value from a missing one. Here every value stays PostgreSQL's exact text, LSNs are
 * bigint, and an unchanged TOAST datum is `undefined`.
 */

/** A column value: PostgreSQL's text form, `null` for SQL NULL, `undefined` for unchanged TOAST. */
export type TupleValue = string | null | undefined;
export type Tuple = TupleValue[];

/** Replica identity setting of a relation (pg_class.relreplident). */
export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export interface RelationColumn {
  /** Column is part of the replica identity (key). */
  readonly isKey: boolean;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

export interface RelationMessage {
  readonly tag: 'relation';
  readonly relationId: number;
  readonly schema: string;
  readonly table: string;
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly RelationColumn[];
}

export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: 'commit'; flags: number; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | RelationMessage
  | { tag: 'type'; typeOid: number; schema: string; name: string }
  | { tag: 'origin'; lsn: bigint; name: string }
  | { tag: 'insert'; relationId: number; newTuple: Tuple }
  | { tag: 'update'; relationId: number; keyTuple: Tuple | null; oldTuple: Tuple | null; newTuple: Tuple }
  | { tag: 'delete'; relationId: number; keyTuple: Tuple | null; oldTuple: Tuple | null }
  | { tag: 'truncate'; relationIds: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'message'; transactional: boolean; lsn: bigint; prefix: string; content: Buffer };

/** Thrown when the byte stream does not follow the protocol: a bug or a version mismatch. */
export class PgoutputProtocolError extends Error {
  override readonly name = 'PgoutputProtocolError';
}

/** Cursor over one message; all reads are big-endian as the protocol specifies. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }
  u8(): number {
    return this.buf[this.pos++]!;
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A NUL-terminated string. */
  cstr(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new PgoutputProtocolError('unterminated string in pgoutput message');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

const REPLICA_IDENTITY: Record<number, ReplicaIdentity> = {
  0x64: 'default',
  0x6e: 'nothing',
  0x66: 'full',
  0x69: 'index',
};

function readTuple(r: Reader): Tuple {
  const n = r.i16();
  const tuple: Tuple = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    if (kind === 0x74 /* t */) {
      const len = r.i32();
      tuple[i] = r.buf.toString('utf8', r.pos, r.pos + len);
      r.pos += len;
    } else if (kind === 0x6e /* n */) {
      tuple[i] = null;
    } else if (kind === 0x75 /* u */) {
      tuple[i] = undefined;
    } else {
      // 'b' (binary) is only sent when the binary option is requested, which Sluice never does.
      throw new PgoutputProtocolError(`unexpected tuple value kind ${String.fromCharCode(kind)}`);
    }
  }
  return tuple;
}

/**
 * Decodes one pgoutput message that starts at `offset` of `buf` (the payload of an XLogData
 * message, after its 25-byte header).
 */
export function decodePgoutput(buf: Buffer, offset = 0): PgoutputMessage {
  const r = new Reader(buf, offset);
  const tag = r.u8();
  switch (tag) {
    case 0x42 /* B */:
      return { tag: 'begin', finalLsn: r.u64(), commitTime: r.i64(), xid: r.u32() };
    case 0x43 /* C */:
      return { tag: 'commit', flags: r.u8(), commitLsn: r.u64(), endLsn: r.u64(), commitTime: r.i64() };
    case 0x49 /* I */: {
      const relationId = r.u32();
      const n = r.u8();
      if (n !== 0x4e) throw new PgoutputProtocolError('insert without new tuple');
      return { tag: 'insert', relationId, newTuple: readTuple(r) };
    }
    case 0x55 /* U */: {
      const relationId = r.u32();
      let keyTuple: Tuple | null = null;
      let oldTuple: Tuple | null = null;
      let sub = r.u8();
      if (sub === 0x4b /* K */) {
        keyTuple = readTuple(r);
        sub = r.u8();
      } else if (sub === 0x4f /* O */) {
        oldTuple = readTuple(r);
        sub = r.u8();
      }
      if (sub !== 0x4e) throw new PgoutputProtocolError('update without new tuple');
      return { tag: 'update', relationId, keyTuple, oldTuple, newTuple: readTuple(r) };
    }
    case 0x44 /* D */: {
      const relationId = r.u32();
      const sub = r.u8();
      const tuple = readTuple(r);
      if (sub === 0x4b) return { tag: 'delete', relationId, keyTuple: tuple, oldTuple: null };
      if (sub === 0x4f) return { tag: 'delete', relationId, keyTuple: null, oldTuple: tuple };
      throw new PgoutputProtocolError(`delete with unknown tuple kind ${String.fromCharCode(sub)}`);
    }
    case 0x52 /* R */: {
      const relationId = r.u32();
      const schema = r.cstr();
      const table = r.cstr();
      const ident = REPLICA_IDENTITY[r.u8()];
      if (!ident) throw new PgoutputProtocolError('unknown replica identity');
      const n = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8();
        columns.push({ isKey: (flags & 1) === 1, name: r.cstr(), typeOid: r.u32(), typeMod: r.i32() });
      }
      return { tag: 'relation', relationId, schema, table, replicaIdentity: ident, columns };
    }
    case 0x59 /* Y */:
      return { tag: 'type', typeOid: r.u32(), schema: r.cstr(), name: r.cstr() };
    case 0x4f /* O */:
      return { tag: 'origin', lsn: r.u64(), name: r.cstr() };
    case 0x54 /* T */: {
      const n = r.i32();
      const flags = r.u8();
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.u32());
      return { tag: 'truncate', relationIds, cascade: (flags & 1) !== 0, restartIdentity: (flags & 2) !== 0 };
    }
    case 0x4d /* M */: {
      const flags = r.u8();
      const lsn = r.u64();
      const prefix = r.cstr();
      const len = r.i32();
      // A copy: the chunk is pg's read buffer, reused for later socket data while the message
      // still waits in the processing queue (a view would then read other bytes).
      return {
        tag: 'message',
        transactional: (flags & 1) !== 0,
        lsn,
        prefix,
        content: Buffer.from(r.bytes(len)),
      };
    }
    default:
      throw new PgoutputProtocolError(`unknown pgoutput message type 0x${tag.toString(16)}`);
  }
}

/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;

/** Formats a PostgreSQL timestamp (µs since 2000-01-01 UTC) as ISO 8601 UTC with microseconds. */
export function pgTimestampToIso(us: bigint): string {
  const unixUs = us + PG_EPOCH_US;
  const ms = unixUs / 1000n;
  const micros = Number(unixUs - ms * 1000n);
  const iso = new Date(Number(ms)).toISOString(); // 2024-01-02T03:04:05.123Z
  return iso.slice(0, -1) + String(micros < 0 ? micros + 1000 : micros).padStart(3, '0') + 'Z';
}
