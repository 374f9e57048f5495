/**
 * Reading the connector's streams as a bench needs them: message counts and the server's first and
 * last store timestamps (JetStream stamps every message when it stores it, just before the ack), and
 * a clean slate between scenarios.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { streamNames } from '../../schemas/subjects.js';
import { schemaBucketName } from '../../connector/sink/schema-store.js';
import { snapshotBucketName } from '../../connector/sink/snapshot-store.js';

export const PREFIX = 'cdc';
export const STREAMS = streamNames(PREFIX);

/** A stream's state: messages and store times (ms since the epoch; null when empty). */
export interface StreamStat {
  messages: number;
  lastSeq: number;
  firstTs: number | null;
  lastTs: number | null;
}

const EMPTY: StreamStat = { messages: 0, lastSeq: 0, firstTs: null, lastTs: null };

/** Parses JetStream's RFC 3339 timestamps with nanoseconds to epoch milliseconds (µs kept). */
export function parseTs(ts: string | undefined): number | null {
  if (!ts || ts.startsWith('0001-')) return null;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return Date.parse(ts);
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return Date.parse(m[1]! + m[3]!) + Number(frac) / 1000;
}

export async function streamStat(jsm: JetStreamManager, name: string): Promise<StreamStat> {
  try {
    const { state } = await jsm.streams.info(name);
    return {
      messages: state.messages,
      lastSeq: state.last_seq,
      firstTs: state.messages ? parseTs(state.first_ts) : null,
      lastTs: state.messages ? parseTs(state.last_ts) : null,
    };
  } catch (e) {
    if (/stream not found/i.test(String((e as Error).message))) return EMPTY;
    throw e;
  }
}

/** Both streams of the `cdc` prefix. */
export async function sluiceStreams(
  jsm: JetStreamManager,
): Promise<{ facts: StreamStat; deltas: StreamStat }> {
  const [facts, deltas] = await Promise.all([
    streamStat(jsm, STREAMS.facts),
    streamStat(jsm, STREAMS.deltas),
  ]);
  return { facts, deltas };
}

/** Deletes the connector's streams and KV buckets, so the next scenario starts from nothing. */
export async function resetSluiceStreams(jsm: JetStreamManager): Promise<void> {
  const names = [
    STREAMS.facts,
    STREAMS.deltas,
    `KV_${schemaBucketName(PREFIX)}`,
    `KV_${snapshotBucketName(PREFIX)}`,
  ];
  for (const name of names) await jsm.streams.delete(name).catch(() => undefined);
}
