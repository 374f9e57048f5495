/**
 * Real events of the bench row shape, captured at the start of a run: the connector publishes one
 * 100-row transaction of `bench_orders` and the bench keeps a fact, a delta and the commit marker as
 * stored. The JetStream limit publishes exactly these bodies, so the denominator is measured with
 * Sluice's own event sizes.
 */
import { readStream } from '../../test/harness/index.js';
import { CREATE_BENCH_TABLE, insertRowsOneTx } from './bench-table.js';
import { pgClient, pollUntil } from './bench-env.js';
import { spawnConnector, waitStreaming } from './connector-process.js';
import type { BenchContext } from './figures.js';
import { STREAMS, resetSluiceStreams, sluiceStreams } from './streams.js';

/** Rows per transaction in the backlog of scenario 1, the decode limit and this sample. */
export const BACKLOG_TX_ROWS = 100;

export interface SampleMessage {
  subject: string;
  body: Uint8Array;
}

export interface SampleEvents {
  fact: SampleMessage;
  delta: SampleMessage;
  tx: SampleMessage;
  /** Rows per transaction of the sample: the commit marker is shared by that many changes. */
  txRows: number;
}

const DB = 'bench_sample';
const SLOT = 'bench_sample';

export async function captureSampleEvents(ctx: BenchContext): Promise<SampleEvents> {
  const { env } = ctx;
  await resetSluiceStreams(env.jsm);
  const url = await env.createDatabase(DB);
  await env.query(DB, CREATE_BENCH_TABLE);
  const c = spawnConnector(env, { databaseUrl: url, slot: SLOT, snapshot: 'never' });
  try {
    const db = await pgClient(url);
    try {
      await waitStreaming(env, c);
      await insertRowsOneTx(db, 1, BACKLOG_TX_ROWS);
    } finally {
      await db.end();
    }
    const done = await pollUntil(async () => {
      const s = await sluiceStreams(env.jsm);
      return s.facts.messages >= BACKLOG_TX_ROWS && s.deltas.messages >= BACKLOG_TX_ROWS + 1
        ? true
        : undefined;
    }, 30_000);
    if (!done)
      throw new Error(`the sample transaction did not reach the streams; connector output:\n${c.output()}`);
    const facts = await readStream(env.nc, STREAMS.facts);
    const deltas = await readStream(env.nc, STREAMS.deltas);
    const fact = facts[Math.floor(facts.length / 2)]!;
    const delta = deltas.find((m) => m.subject.startsWith('cdc.delta.'))!;
    const tx = deltas.find((m) => m.subject.startsWith('cdc.tx.'))!;
    return {
      fact: { subject: fact.subject, body: fact.raw },
      delta: { subject: delta.subject, body: delta.raw },
      tx: { subject: tx.subject, body: tx.raw },
      txRows: BACKLOG_TX_ROWS,
    };
  } finally {
    await c.stop();
    await env.dropDatabase(DB, SLOT);
    await resetSluiceStreams(env.jsm);
  }
}
