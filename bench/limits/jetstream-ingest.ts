/**
 * JetStream ingest: the most messages per second nats-server accepts and acknowledges, with
 * Sluice's real events (the fact, delta and commit-marker bodies captured at the start of the run),
 * published the fastest way a client can: plain PUBs with a reply subject, a window of messages in
 * flight, one wildcard subscription collecting the acks (what Go's PublishAsync does).
 *
 * The traffic is Sluice's own mix into streams configured exactly like Sluice's (same function,
 * prefix `benchlimit`): per change a delta to the deltas stream and a fact to the facts stream (one
 * subject per key, max one message per subject), plus a commit marker every 100 changes.
 *
 * Variants: with Nats-Msg-Id (the limit: Sluice must dedup), without headers, with Nats-Msg-Id and
 * Nats-Expected-Last-Sequence (the headers Sluice sends), and nats.js `js.publish()` awaited in a
 * window of 256 (what a straightforward client gets). They take turns for 2–3 rounds, fresh streams
 * each run; each variant's best run counts, and the limit is the best run that carried ids.
 */
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamManager, type PubAck, type StreamConfig } from '@nats-io/jetstream';
import { loadConfig } from '../../connector/config.js';
import { desiredStreams } from '../../connector/sink/streams.js';
import { sleep } from '../support/bench-env.js';
import type { BenchContext, LimitResult } from '../support/figures.js';
import type { SampleEvents } from '../support/sample-events.js';

/** Messages in flight for the pipelined publisher (the connector's default maxInFlight). */
const WINDOW = 4096;
/** Promises in flight for js.publish(). */
const JS_WINDOW = 256;

const ENC = new TextEncoder();
const DEC = new TextDecoder();

type Headers = 'none' | 'id' | 'id+expected';

interface Streams {
  facts: string;
  deltas: string;
}

/** The messages of change `n`: a delta, a fact, and every `txRows` changes a commit marker. */
interface Message {
  stream: 0 | 1; // 0 facts, 1 deltas
  subject: string;
  id: string;
  body: Uint8Array;
}

function* messages(sample: SampleEvents): Generator<Message> {
  for (let n = 0; ; n++) {
    const version = n.toString(16).padStart(16, '0') + '-00000000';
    yield {
      stream: 1,
      subject: `benchlimit.delta.public.bench_orders.insert.${n}`,
      id: `bench:${version}:delta`,
      body: sample.delta.body,
    };
    yield {
      stream: 0,
      subject: `benchlimit.fact.public.bench_orders.${n}`,
      id: `bench:${version}:fact`,
      body: sample.fact.body,
    };
    if ((n + 1) % sample.txRows === 0) {
      yield { stream: 1, subject: `benchlimit.tx.${n}`, id: `bench:${version}:tx`, body: sample.tx.body };
    }
  }
}

async function freshStreams(jsm: JetStreamManager, natsUrl: string): Promise<Streams> {
  const cfg = loadConfig({
    env: {
      SLUICE_DATABASE_URL: 'postgres://bench@127.0.0.1/bench',
      SLUICE_NATS_URL: natsUrl,
      SLUICE_PREFIX: 'benchlimit',
    },
  });
  const want = desiredStreams(cfg);
  for (const s of [want.facts, want.deltas]) {
    await jsm.streams.delete(s.name!).catch(() => undefined);
    await jsm.streams.add(s as StreamConfig);
  }
  return { facts: want.facts.name!, deltas: want.deltas.name! };
}

async function dropStreams(jsm: JetStreamManager, s: Streams): Promise<void> {
  await jsm.streams.delete(s.facts).catch(() => undefined);
  await jsm.streams.delete(s.deltas).catch(() => undefined);
}

export interface IngestRun {
  /** Acknowledged messages per second, first publish to last ack. */
  rate: number;
  messages: number;
  seconds: number;
  errors: number;
  firstError: string | null;
}

/** Pipelined publishes for `seconds`, then waits for the outstanding acks. */
async function pipelined(
  nc: NatsConnection,
  sample: SampleEvents,
  seconds: number,
  headers: Headers,
): Promise<IngestRun> {
  const inbox = createInbox('_BENCH');
  const lastSeq: [number, number] = [0, 0];
  let inFlight = 0;
  let acked = 0;
  let errors = 0;
  let firstError: string | null = null;
  let lastAck = 0;
  let wake: (() => void) | null = null;
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err) {
        errors++;
        firstError ??= err.message;
      } else {
        const ack = msg.data.length
          ? (JSON.parse(DEC.decode(msg.data)) as { error?: { description: string } })
          : null;
        if (!ack || ack.error) {
          errors++;
          firstError ??= ack?.error?.description ?? `status ${msg.headers?.code ?? '?'}`;
        } else acked++;
      }
      inFlight--;
      lastAck = performance.now();
      if (wake && inFlight < WINDOW) {
        const w = wake;
        wake = null;
        w();
      }
    },
  });
  const gen = messages(sample);
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end && errors === 0) {
    while (inFlight < WINDOW) {
      const m = gen.next().value as Message;
      let h: { encode(): Uint8Array } | undefined;
      if (headers !== 'none') {
        // Header block in wire form, as the connector's sink builds it (no MsgHdrs object).
        let text = `NATS/1.0\r\nNats-Msg-Id: ${m.id}\r\n`;
        if (headers === 'id+expected') text += `Nats-Expected-Last-Sequence: ${lastSeq[m.stream]++}\r\n`;
        const bytes = ENC.encode(text + '\r\n');
        h = { encode: () => bytes };
      }
      nc.publish(m.subject, m.body, { reply: `${inbox}.${n++}`, ...(h ? { headers: h as never } : {}) });
      inFlight++;
    }
    await new Promise<void>((resolve) => (wake = resolve));
  }
  const drainEnd = performance.now() + 30_000;
  while (inFlight > 0 && performance.now() < drainEnd) await sleep(5);
  sub.unsubscribe();
  const secs = (lastAck - start) / 1000;
  return { rate: acked / secs, messages: acked, seconds: secs, errors, firstError };
}

/** nats.js js.publish() with msgID, awaited in a FIFO window of JS_WINDOW promises. */
async function jsPublish(nc: NatsConnection, sample: SampleEvents, seconds: number): Promise<IngestRun> {
  const js = jetstream(nc, { timeout: 30_000 });
  const gen = messages(sample);
  const window: Promise<PubAck>[] = [];
  let acked = 0;
  let errors = 0;
  let firstError: string | null = null;
  const settle = async (p: Promise<PubAck>) => {
    try {
      await p;
      acked++;
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
    }
  };
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end && errors === 0) {
    const m = gen.next().value as Message;
    window.push(js.publish(m.subject, m.body, { msgID: m.id }));
    if (window.length >= JS_WINDOW) await settle(window.shift()!);
  }
  for (const p of window) await settle(p);
  const secs = (performance.now() - start) / 1000;
  return { rate: acked / secs, messages: acked, seconds: secs, errors, firstError };
}

function describe(r: IngestRun): string {
  return `${Math.round(r.rate)} msg/s (${r.messages} messages in ${r.seconds.toFixed(1)} s${r.errors ? `, ${r.errors} errors: ${r.firstError}` : ''})`;
}

/** Measures the ingest limit and its context figures; needs ctx.sample. */
export async function measureJetStreamIngest(ctx: BenchContext): Promise<LimitResult[]> {
  const { env } = ctx;
  const sample = ctx.sample;
  if (!sample) throw new Error('the JetStream limit needs the sample events');
  // The limit is a capacity: noise (other work on the machine) only ever lowers it, so every
  // variant runs several times and its best run counts. The variants take turns (round after
  // round), so a burst of outside load slows one run of each rather than every run of one.
  const seconds = ctx.quick ? 2 : 4;
  const rounds = ctx.quick ? 2 : 3;
  const variants = [
    { key: 'id', label: 'pipelined, Nats-Msg-Id', run: () => pipelined(env.nc, sample, seconds, 'id') },
    { key: 'none', label: 'pipelined, no headers', run: () => pipelined(env.nc, sample, seconds, 'none') },
    {
      key: 'id+expected',
      label: 'pipelined, Nats-Msg-Id + Nats-Expected-Last-Sequence',
      run: () => pipelined(env.nc, sample, seconds, 'id+expected'),
    },
    {
      key: 'js',
      label: `js.publish() awaited, window ${JS_WINDOW}`,
      run: () => jsPublish(env.nc, sample, seconds),
    },
  ] as const;
  const runs = new Map<string, IngestRun[]>(variants.map((v) => [v.key, []]));
  // Warm-up: JIT, the server's file store, page cache. Not reported.
  const warm = await freshStreams(env.jsm, env.nats.url);
  await pipelined(env.nc, sample, 1, 'id').finally(() => dropStreams(env.jsm, warm));
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      const streams = await freshStreams(env.jsm, env.nats.url);
      try {
        const r = await v.run();
        if (r.errors) throw new Error(`JetStream rejected publishes during "${v.label}": ${r.firstError}`);
        runs.get(v.key)!.push(r);
      } finally {
        await dropStreams(env.jsm, streams);
      }
    }
  }
  const best = (key: string): IngestRun & { runs: number[] } => {
    const list = runs.get(key)!;
    const top = list.reduce((a, b) => (b.rate > a.rate ? b : a));
    const label = variants.find((v) => v.key === key)!.label;
    ctx.log(`  ${label}: best ${describe(top)}; runs ${list.map((r) => Math.round(r.rate)).join(', ')}`);
    return { ...top, runs: list.map((r) => r.rate) };
  };
  const ids = best('id');
  const noIds = best('none');
  const expected = best('id+expected');
  const jsp = best('js');
  // Publishes with Nats-Msg-Id and Nats-Expected-Last-Sequence also carry the id: their best run is
  // also a measurement of what the server accepts with ids.
  const withIds = expected.rate > ids.rate ? expected : ids;
  const sizes = {
    factBytes: sample.fact.body.length,
    deltaBytes: sample.delta.body.length,
    txMarkerBytes: sample.tx.body.length,
  };
  return [
    {
      name: 'jetstream-ingest',
      title: 'JetStream ingest, pipelined + Nats-Msg-Id',
      value: withIds.rate,
      unit: 'msg/s',
      note: `Sluice's message mix and bodies (fact ${sizes.factBytes} B, delta ${sizes.deltaBytes} B), window ${WINDOW}, best of ${rounds * 2} runs with ids`,
      details: {
        ...sizes,
        messages: withIds.messages,
        seconds: withIds.seconds,
        window: WINDOW,
        runs: [...ids.runs, ...expected.runs].map(Math.round).join(' '),
      },
    },
    {
      name: 'jetstream-ingest-no-ids',
      title: 'JetStream ingest, pipelined, no headers',
      value: noIds.rate,
      unit: 'msg/s',
      note: 'context: the cost of deduplication ids',
      details: {
        messages: noIds.messages,
        seconds: noIds.seconds,
        runs: noIds.runs.map(Math.round).join(' '),
      },
    },
    {
      name: 'jetstream-ingest-expected-seq',
      title: 'JetStream ingest, + Nats-Expected-Last-Sequence',
      value: expected.rate,
      unit: 'msg/s',
      note: 'context: the headers the connector sends',
      details: {
        messages: expected.messages,
        seconds: expected.seconds,
        runs: expected.runs.map(Math.round).join(' '),
      },
    },
    {
      name: 'jetstream-js-publish',
      title: `JetStream via js.publish(), window ${JS_WINDOW}`,
      value: jsp.rate,
      unit: 'msg/s',
      note: 'context: nats.js request per message',
      details: {
        messages: jsp.messages,
        seconds: jsp.seconds,
        window: JS_WINDOW,
        runs: jsp.runs.map(Math.round).join(' '),
      },
    },
  ];
}
