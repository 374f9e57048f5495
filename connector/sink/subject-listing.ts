/**
 * Every subject's latest message under a prefix of a stream, listed in bounded batches with an
 * ordered consumer: how `sluice verify` lists a table's facts (verify/fact-source.ts).
 */
import { DeliverPolicy, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JS_API_TIMEOUT_MS, streamSize } from './streams.js';

/** Milliseconds one listing fetch waits for messages. */
const FETCH_EXPIRES_MS = 5_000;

/**
 * Hands the latest message of every subject `subjectPrefix*` of `stream` to `pick` (subject and
 * text; null leaves the message out) and the picked ones to `onBatch` in batches of at most
 * `batchSize`, each before the next fetch: an ordered consumer delivering the last message per
 * subject, then what is published meanwhile.
 */
export async function listLastPerSubject<T>(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  subjectPrefix: string,
  batchSize: number,
  pick: (subject: string, text: string) => T | null,
  onBatch: (batch: T[]) => Promise<void>,
): Promise<void> {
  if ((await streamSize(jsm, stream)).messages === 0) return;
  const js = jetstream(nc, { timeout: JS_API_TIMEOUT_MS });
  const consumer = await js.consumers.get(stream, {
    filter_subjects: subjectPrefix + '*',
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  // It reads until nothing is pending. A subject whose message was replaced by a newer one before
  // the consumer reached it is skipped there and found at its newer message; only the live end of
  // the stream is sure to hold every subject's latest message, so stopping at the end as it was at
  // the start would lose subjects changed during the listing. Messages changed during the listing
  // may be listed twice.
  try {
    if ((await consumer.info(true)).num_pending === 0) return;
    for (;;) {
      const batch: T[] = [];
      let done = false;
      const messages = await consumer.fetch({ max_messages: batchSize, expires: FETCH_EXPIRES_MS });
      for await (const m of messages) {
        const picked = pick(m.subject, m.string());
        if (picked !== null) batch.push(picked);
        if (m.info.pending === 0) {
          done = true;
          break;
        }
      }
      if (batch.length) await onBatch(batch);
      if (done) return;
      // One fetch may end before max_messages (server limits, expiry): go on while any is pending.
      if (batch.length === 0 && (await consumer.info(true)).num_pending === 0) return;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}
