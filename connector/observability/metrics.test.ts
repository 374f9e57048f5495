/**
 * The connector's metrics with plain data: counters read from the pipeline's stats at scrape time
 * and carried across sessions, events counted by subject, commit → ack latency and lag.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.js';
import { encodeName } from '../../schemas/keys.js';
import type { CountedProcessor, CountedSink } from '../ports.js';

/** The value of one series in Prometheus text (`name{labels} value`), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const processor = (n: number) =>
  ({
    stats: { changes: n, transactions: n, skipped: n, fetches: n, large: n, dbReads: n },
  }) satisfies CountedProcessor;
const sink = (n: number) =>
  ({
    stats: { published: [n, 2 * n, 3 * n, 0], acked: [n, 2 * n, 3 * n, 0], bytes: 10 * n, duplicates: n },
    inFlight: 3,
    inFlightBytes: 300,
  }) satisfies CountedSink;

/** Microseconds since 2000-01-01 of a Unix time in milliseconds. */
const pgTime = (ms: number) => BigInt(ms) * 1000n - 946_684_800_000_000n;

describe('connector metrics', () => {
  it('exports the pipeline counters and keeps the totals of ended sessions', async () => {
    const m = new Metrics();
    m.attach(processor(5), sink(5));
    m.attach(processor(2), sink(2)); // a restart: the new session counts from 0
    const text = await m.render();
    for (const [series, want] of [
      ['sluice_changes_total', 7],
      ['sluice_transactions_total', 7],
      ['sluice_positions_skipped_total', 7],
      ['sluice_fact_reads_total', 7],
      ['sluice_large_events_total', 7],
      ['sluice_database_reads_total', 7],
      ['sluice_duplicates_total', 7],
      ['sluice_published_bytes_total', 70],
      ['sluice_messages_published_total{stream="facts"}', 7],
      ['sluice_messages_published_total{stream="deltas"}', 14],
      ['sluice_messages_acked_total{stream="deltas"}', 14],
      ['sluice_messages_published_total{stream="events"}', 21],
      ['sluice_messages_published_total{stream="dlq"}', 0],
      ['sluice_in_flight', 3],
      ['sluice_in_flight_bytes', 300],
    ] as const) {
      expect(value(text, series), series).toBe(want);
    }
    expect(m.totals()).toMatchObject({ changes: 7, published: 42, acked: 42, bytes: 70, inFlight: 3 });
  });

  it.each([
    ['cdc.delta.public.orders.insert.17', 'kind="delta",table="public.orders",op="insert"'],
    ['cdc.fact.public.orders.17', 'kind="fact",table="public.orders",op=""'],
    [`cdc.delta.${encodeName('Odd Schema')}.t.truncate._`, 'kind="delta",table="Odd Schema.t",op="truncate"'],
    ['cdc.tx.991', 'kind="tx",table="",op=""'],
    ['cdc.heartbeat', 'kind="heartbeat",table="",op=""'],
  ])('counts %s as %s', async (subject, labels) => {
    const m = new Metrics();
    m.countEvent(subject);
    m.countEvent(subject);
    expect(value(await m.render(), `sluice_events_published_total{${labels}}`)).toBe(2);
  });

  it('times commit → acknowledgement and reports the age of the oldest unacknowledged commit', async () => {
    const m = new Metrics();
    const t0 = 1_800_000_000_000;
    m.commitRead(100n, pgTime(t0));
    m.commitRead(200n, pgTime(t0 + 1000));
    m.commitRead(300n, pgTime(t0 + 2000));
    expect(m.lagSeconds(t0 + 5000)).toBe(5);
    m.checkpoint(200n, t0 + 5000); // two transactions acknowledged, 5 s and 4 s after their commits
    expect(m.lagSeconds(t0 + 5000)).toBe(3);
    m.checkpoint(300n, t0 + 2010);
    expect(m.lagSeconds(t0 + 6000)).toBe(0);
    const text = await m.render();
    expect(value(text, 'sluice_commit_ack_seconds_count')).toBe(3);
    expect(value(text, 'sluice_commit_ack_seconds_sum')).toBeCloseTo(9.01, 5);
    expect(value(text, 'sluice_commit_ack_seconds_bucket{le="0.01"}')).toBe(1);
    expect(value(text, 'sluice_commit_ack_seconds_bucket{le="5"}')).toBe(3);
  });

  it.each([
    [0, 5_000_000, 0],
    [1_000_000, 999_999, 0],
    [1_000_000, 1_000_001, 1],
  ])('with retainedWalWarnBytes %i, %i bytes retained warn %i', async (limit, retained, want) => {
    const m = new Metrics({ retainedWalWarnBytes: limit });
    m.retainedWalBytes = retained;
    const text = await m.render();
    expect(value(text, 'sluice_slot_retained_wal_bytes')).toBe(retained);
    expect(value(text, 'sluice_slot_retained_wal_warning')).toBe(want);
  });

  it('reads the status it watches', async () => {
    const m = new Metrics();
    m.watchStatus({ state: 'streaming', confirmedLsn: 0x1_0000_0000n, sessions: 2 });
    const text = await m.render();
    expect(value(text, 'sluice_streaming')).toBe(1);
    expect(value(text, 'sluice_confirmed_lsn')).toBe(2 ** 32);
    expect(value(text, 'sluice_sessions_total')).toBe(2);
  });
});
