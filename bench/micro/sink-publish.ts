/**
 * Micro-benchmark of the sink's per-message path, robust to a loaded machine: CPU time (user +
 * system, `process.cpuUsage`) per change of `JetStreamSink` publishing a delta and a fact per change
 * and a commit marker per 100, with every acknowledgement fed back. No server: the connection is a
 * stand-in that does per publish what nats.js 3.4 does (`_check`'s subject tests, the `HPUB` line
 * as a string encoded with a TextEncoder, the buffers queued and packed into one write per burst),
 * and answers each message with the ack body JetStream sends (`{"stream":"…","seq":N}`).
 *
 *   node dist/bench/micro/sink-publish.js [sink module] [changes]
 *
 * The sink module defaults to this build's; pass another build's
 * `dist/connector/sink/jetstream-sink.js` to compare before and after on the same machine. Under
 * `valgrind --tool=callgrind` the instruction count is the figure to compare.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { ROOT } from '../support/paths.js';

interface SinkLike {
  begin(): object;
  commit(tx: object, endLsn: bigint): void;
  publishChange(tx: object, delta: unknown, fact: unknown): void;
  publishDelta(tx: object, msg: unknown): void;
  readonly inFlight: number;
  close(): void;
}

import { StandInConnection } from './stand-in-nats.js';

const sinkPath = process.argv[2] ?? join(ROOT, 'dist', 'connector', 'sink', 'jetstream-sink.js');
const changes = Number(process.argv[3] ?? '200000');
const { JetStreamSink } = (await import(pathToFileURL(sinkPath).href)) as {
  JetStreamSink: new (nc: unknown, opts: unknown) => SinkLike;
};

// Bodies of the bench's row shape (about 850 and 900 bytes, like the captured bench events).
const row =
  '{"id":"123456","customer_id":"4711","status":"paid","total":"123.45","currency":"EUR","email":"customer4711@example.com","ship_to":"17 Market Street, Springfield, DE","note":"0123456789abcdef0123456789abcdef gift wrap, leave at the door please","placed_at":"2024-01-01T00:00:00.000000Z","updated_at":"2026-12-01T05:00:00.123456Z"}';
const head =
  '{"specversion":"1.0","id":"bench:00000000016B3A28-00000001:fact","source":"sluice/bench","type":"sluice.fact.public.bench_orders","subject":"123456","time":"2026-12-01T05:00:00.123456Z","datacontenttype":"application/json","data":';

const nc = new StandInConnection();
const sink = new JetStreamSink(nc, {
  streams: ['CDC_FACTS', 'CDC_DELTAS'],
  lastSeq: [0, 0],
  maxInFlight: 4096,
  maxInFlightBytes: 16 * 1024 * 1024,
  ackTimeoutMs: 600_000,
  onCheckpoint: () => undefined,
  onFatal: (e: Error) => {
    throw e;
  },
});

async function run(n: number): Promise<void> {
  let tx = sink.begin();
  for (let i = 0; i < n; i++) {
    const version = (0x16b3a28 + i).toString(16).padStart(16, '0') + '-00000001';
    const key = String(100000 + i);
    sink.publishChange(
      tx,
      {
        subject: `cdc.delta.public.bench_orders.insert.${key}`,
        id: `bench:${version}:delta`,
        body: `${head}{"table":"public.bench_orders","key":{"id":"${key}"},"op":"insert","changes":${row},"version":"${version}"}}`,
      },
      {
        subject: `cdc.fact.public.bench_orders.${key}`,
        id: `bench:${version}:fact`,
        body: `${head}{"table":"public.bench_orders","key":{"id":"${key}"},"op":"insert","deleted":false,"row":${row},"version":"${version}"}}`,
      },
    );
    if ((i + 1) % 100 === 0) {
      sink.publishDelta(tx, { subject: 'cdc.tx.bench', id: `bench:${version}:tx`, body: `{"changes":100}` });
      sink.commit(tx, BigInt(i + 1));
      tx = sink.begin();
    }
    // The window is full: the server answers a batch, nats.js flushes what the acks released.
    if (sink.inFlight >= 4096) {
      await null; // the microtask that hands the sink's frames to the connection
      nc.flush();
      nc.ack(1024);
      nc.flush();
    }
  }
  await null;
  while (nc.unacked.length) {
    nc.flush();
    nc.ack(1024);
    await null;
  }
  nc.flush();
}

await run(Math.min(20_000, changes)); // warm-up (JIT)
const t0 = process.cpuUsage();
const w0 = performance.now();
await run(changes);
const cpu = process.cpuUsage(t0);
const wall = performance.now() - w0;
const cpuUs = cpu.user + cpu.system;
process.stdout.write(
  JSON.stringify({
    sink: sinkPath,
    changes,
    cpuMicrosPerChange: Number((cpuUs / changes).toFixed(3)),
    wallMicrosPerChange: Number(((wall * 1000) / changes).toFixed(3)),
    bytesWritten: nc.written,
  }) + '\n',
);
sink.close();
