/**
 * PostgreSQL decode: how fast the walsender, pgoutput and a minimal Node reader drain a backlog of
 * the same shape as scenario 1 (bench_orders inserts, 100 rows per transaction).
 *
 * The reader is deliberately minimal and separate from the connector's source: `pg` in replication
 * mode, START_REPLICATION … LOGICAL with pgoutput, count the XLogData messages whose pgoutput tag is
 * I, U or D, answer keepalives with a standby status update. Nothing is decoded beyond the tag.
 * Byte layouts: https://www.postgresql.org/docs/current/protocol-replication.html
 */
import pg from 'pg';
import { CREATE_BENCH_TABLE, insertRowsBatched } from '../support/bench-table.js';
import { pgClient } from '../support/bench-env.js';
import type { BenchContext, LimitResult } from '../support/figures.js';
import { BACKLOG_TX_ROWS } from '../support/sample-events.js';

const DB = 'bench_decode';
const SLOTS = ['bench_decode_1', 'bench_decode_2'];
const PUBLICATION = 'bench_decode';
const PG_EPOCH_MS = 946_684_800_000;

/** The parts of pg's internal Connection a replication reader uses (as connector/source does). */
interface PgConnection {
  on(event: 'copyData', fn: (msg: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', fn: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { destroy(): void };
}

export interface DecodeRun {
  changes: number;
  /** Seconds from the first XLogData to the last change. */
  seconds: number;
  /** Seconds from START_REPLICATION to the last change. */
  totalSeconds: number;
}

/** Streams the slot until `expected` changes arrived; returns timings. */
export async function drainSlot(
  url: string,
  slot: string,
  publication: string,
  expected: number,
): Promise<DecodeRun> {
  const client = new pg.Client({ connectionString: url, replication: 'database' } as pg.ClientConfig);
  client.on('error', () => undefined);
  await client.connect();
  const connection = (client as unknown as { connection: PgConnection }).connection;
  let changes = 0;
  let received = 0n;
  let first = 0;
  let last = 0;
  const status = () => {
    const b = Buffer.allocUnsafe(34);
    b[0] = 0x72; // 'r': standby status update
    b.writeBigUInt64BE(received, 1);
    b.writeBigUInt64BE(received, 9);
    b.writeBigUInt64BE(received, 17);
    b.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    b[33] = 0;
    connection.sendCopyFromChunk(b);
  };
  const done = new Promise<void>((resolve, reject) => {
    connection.on('copyData', ({ chunk }) => {
      if (chunk[0] === 0x77 /* w: XLogData; the pgoutput message starts at byte 25 */) {
        if (first === 0) first = performance.now();
        received = chunk.readBigUInt64BE(1);
        const tag = chunk[25];
        if (tag === 0x49 /* I */ || tag === 0x55 /* U */ || tag === 0x44 /* D */) {
          if (++changes === expected) {
            last = performance.now();
            resolve();
          }
        }
      } else if (chunk[0] === 0x6b /* k: keepalive */ && chunk[17] === 1) {
        status();
      }
    });
    client.once('end', () => reject(new Error(`replication connection ended after ${changes} changes`)));
  });
  const started = performance.now();
  void client
    .query(
      `START_REPLICATION SLOT "${slot}" LOGICAL 0/0 (proto_version '1', publication_names '"${publication}"')`,
    )
    .catch(() => undefined);
  const timeout = setTimeout(() => connection.stream.destroy(), 600_000);
  try {
    await done;
  } finally {
    clearTimeout(timeout);
    connection.stream.destroy();
  }
  return { changes, seconds: (last - first) / 1000, totalSeconds: (last - started) / 1000 };
}

export async function measurePostgresDecode(ctx: BenchContext): Promise<LimitResult> {
  const { env } = ctx;
  const rows = ctx.quick ? 200_000 : 1_000_000;
  const url = await env.createDatabase(DB);
  try {
    const db = await pgClient(url);
    try {
      await db.query(CREATE_BENCH_TABLE);
      await db.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE public.bench_orders`);
      // Two slots over the same backlog: it is drained twice and the better run counts (noise only
      // ever slows a run down).
      for (const slot of SLOTS)
        await db.query(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
      ctx.log(`  committing ${rows} rows in transactions of ${BACKLOG_TX_ROWS}`);
      await insertRowsBatched(db, 1, rows, BACKLOG_TX_ROWS);
      await db.query('CHECKPOINT');
    } finally {
      await db.end();
    }
    const runs: DecodeRun[] = [];
    for (const slot of SLOTS) {
      const r = await drainSlot(url, slot, PUBLICATION, rows);
      ctx.log(
        `  drained ${r.changes} changes in ${r.seconds.toFixed(2)} s: ${Math.round(r.changes / r.seconds)} changes/s`,
      );
      runs.push(r);
    }
    const r = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const rate = r.changes / r.seconds;
    return {
      name: 'postgres-decode',
      title: 'PostgreSQL decode (walsender + pgoutput + minimal reader)',
      value: rate,
      unit: 'changes/s',
      note: `backlog of ${rows} inserts, ${BACKLOG_TX_ROWS} per transaction`,
      details: {
        changes: r.changes,
        seconds: r.seconds,
        secondsFromStart: r.totalSeconds,
        txRows: BACKLOG_TX_ROWS,
        runs: runs.map((x) => Math.round(x.changes / x.seconds)).join(' '),
      },
    };
  } finally {
    await env.dropDatabase(DB, SLOTS);
  }
}
