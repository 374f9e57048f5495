/**
 * Micro-benchmark of the connector's whole per-change path without servers, robust to a loaded
 * machine: CPU time (user + system, `process.cpuUsage`) per change from pgoutput bytes to bytes
 * written, i.e. `decodePgoutput` → `ChangeProcessor` (type mapping, row cache, event bodies) →
 * `JetStreamSink` → a stand-in nats.js connection (stand-in-nats.ts) that acknowledges every
 * message. The backlog is the bench's: `public.bench_orders` rows inserted 100 per transaction,
 * encoded as pgoutput before the clock starts.
 *
 *   node dist/bench/micro/pipeline.js [changes]            # CPU µs per change
 *   node --cpu-prof dist/bench/micro/pipeline.js 400000    # and a profile of it
 *
 * The figure leaves out what the servers cost (the walsender, the socket, nats-server): it is the
 * connector's own share, the one the backlog-drain scenario shows as `connectorCpuMicrosPerChange`.
 */
import { decodePgoutput } from '../../connector/source/pgoutput.js';
import { ChangeProcessor } from '../../connector/events/change-processor.js';
import { MemorySchemaRegistry } from '../../connector/events/tables.js';
import { RowCache } from '../../connector/events/row-cache.js';
import { JetStreamSink } from '../../connector/sink/jetstream-sink.js';
import { silentLogger } from '../../connector/logger.js';
import type { Catalog } from '../../connector/ports.js';
import type { PgType } from '../../connector/source/type-catalog.js';
import { StandInConnection } from './stand-in-nats.js';

const changes = Number(process.argv[2] ?? '200000');
const RELATION_ID = 16384;
const WINDOW = 4096;

function pgType(oid: number, name: string, category: string): PgType {
  return { oid, schema: 'pg_catalog', name, kind: 'b', category, delim: ',', element: null, base: null };
}
const TYPES = new Map<number, PgType>(
  [
    pgType(20, 'int8', 'N'),
    pgType(25, 'text', 'S'),
    pgType(1700, 'numeric', 'N'),
    pgType(1042, 'bpchar', 'S'),
    pgType(1184, 'timestamptz', 'D'),
  ].map((t) => [t.oid, t]),
);
const COLUMNS: [string, number][] = [
  ['id', 20],
  ['customer_id', 20],
  ['status', 25],
  ['total', 1700],
  ['currency', 1042],
  ['email', 25],
  ['ship_to', 25],
  ['note', 25],
  ['placed_at', 1184],
  ['updated_at', 1184],
];
const catalog: Catalog = {
  loadTypes: async (oids) => new Map(oids.map((o) => [o, TYPES.get(o)!] as const)),
  describe: async () => ({ identity: ['id'], notNull: new Set(COLUMNS.map(([n]) => n)) }),
};

/** pgoutput encoding, the few message kinds the backlog has. */
class Writer {
  readonly parts: Buffer[] = [];
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
  i64(v: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  cstr(s: string) {
    this.parts.push(Buffer.from(s + '\0'));
    return this;
  }
  text(s: string) {
    const b = Buffer.from(s);
    return this.u8(0x74).i32(b.length).bytes(b);
  }
  bytes(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const relation = (() => {
  const w = new Writer()
    .u8(0x52)
    .i32(RELATION_ID)
    .cstr('public')
    .cstr('bench_orders')
    .u8(0x64)
    .i16(COLUMNS.length);
  COLUMNS.forEach(([name, oid], i) =>
    w
      .u8(i === 0 ? 1 : 0)
      .cstr(name)
      .i32(oid)
      .i32(-1),
  );
  return w.done();
})();
const STATUS = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'];
const COUNTRY = ['US', 'DE', 'FR', 'GB', 'NL'];
function insert(g: number): Buffer {
  const c = (g * 7919) % 100000;
  const at = new Date(Date.UTC(2024, 0, 1) + g * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace('.000Z', '+00');
  const values = [
    String(g),
    String(1 + c),
    STATUS[g % 5]!,
    (((g * 37) % 100000) / 100 + 5).toFixed(2),
    'EUR',
    `customer${c}@example.com`,
    `${g % 997} Market Street, Springfield, ${COUNTRY[g % 5]}`,
    `${g.toString(16).padStart(32, '0')} gift wrap, leave at the door please`,
    at,
    '2026-12-01 05:00:00.123456+00',
  ];
  const w = new Writer().u8(0x49).i32(RELATION_ID).u8(0x4e).i16(values.length);
  for (const v of values) w.text(v);
  return w.done();
}
const T0 = 849_000_000_000_000n; // a 2026 commit time, µs since 2000-01-01
function begin(lsn: bigint, xid: number): Buffer {
  return new Writer()
    .u8(0x42)
    .i64(lsn)
    .i64(T0 + BigInt(xid))
    .i32(xid)
    .done();
}
function commit(lsn: bigint, xid: number): Buffer {
  return new Writer()
    .u8(0x43)
    .u8(0)
    .i64(lsn)
    .i64(lsn + 1n)
    .i64(T0 + BigInt(xid))
    .done();
}

/** The backlog as pgoutput payloads, `n` inserts in transactions of 100 from row `first`. */
function backlog(first: number, n: number, lsn0: bigint): Buffer[] {
  const out: Buffer[] = [];
  let lsn = lsn0;
  for (let i = 0; i < n; i += 100) {
    const xid = 1000 + (first + i) / 100;
    out.push(begin(lsn + 100_000n, xid));
    for (let j = i; j < Math.min(n, i + 100); j++) out.push(insert(first + j));
    out.push(commit(lsn + 100_000n, xid));
    lsn += 200_000n;
  }
  return out;
}

const nc = new StandInConnection();
const sink = new JetStreamSink(nc as never, {
  streams: ['CDC_FACTS', 'CDC_DELTAS'],
  lastSeq: [0, 0],
  maxInFlight: WINDOW,
  maxInFlightBytes: 16 * 1024 * 1024,
  ackTimeoutMs: 600_000,
  onCheckpoint: () => undefined,
  onFatal: (e: Error) => {
    throw e;
  },
});
const processor = new ChangeProcessor({
  prefix: 'cdc',
  source: 'bench',
  sink,
  catalog,
  registry: new MemorySchemaRegistry(),
  facts: { lastFact: async () => null, purgeTable: async () => undefined },
  cache: new RowCache(20_000, 32 * 1024 * 1024),
  lastFact: null,
  lastDelta: null,
  log: silentLogger(),
});

async function run(payloads: Buffer[]): Promise<void> {
  for (const p of payloads) {
    const msg = decodePgoutput(p);
    processor.prefetch(msg);
    const r = processor.handle(msg);
    if (r) await r;
    // The window is full: the server answers a batch, nats.js flushes what the acks released.
    if (sink.inFlight >= WINDOW) {
      await null; // the microtask that hands the sink's frames to the connection
      nc.flush();
      nc.ack(WINDOW / 4);
      nc.flush();
    }
  }
  await null;
  while (nc.unacked.length) {
    await null;
    nc.flush();
    nc.ack(WINDOW / 4);
  }
  nc.flush();
}

await run([relation]);
const warm = Math.min(50_000, changes);
await run(backlog(0, warm, 1_000_000n)); // JIT warm-up
const timed = backlog(warm, changes, 1_000_000n + BigInt(warm) * 2000n + 1_000_000n);
const t0 = process.cpuUsage();
const w0 = performance.now();
await run(timed);
const cpu = process.cpuUsage(t0);
const wall = performance.now() - w0;
process.stdout.write(
  JSON.stringify({
    changes,
    cpuMicrosPerChange: Number(((cpu.user + cpu.system) / changes).toFixed(3)),
    wallMicrosPerChange: Number(((wall * 1000) / changes).toFixed(3)),
    bytesWritten: nc.written,
    facts: sink.stats.published[0],
    deltas: sink.stats.published[1],
  }) + '\n',
);
sink.close();
