import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JsMsg, StoredMsg } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { HarnessError, HarnessErrorCode } from './errors.js';

/** One message read back from a JetStream stream. */
export interface StreamMessage {
  /** Stream sequence. */
  seq: number;
  /** Subject it was published on. */
  subject: string;
  /** Headers; a header sent more than once has its values joined with ", ". */
  headers: Record<string, string>;
  /** `JSON.parse` of the body; undefined when the body is empty or not JSON (see `raw`). */
  data: unknown;
  /** The body as published. */
  raw: Uint8Array;
}

/** Options of {@link readStream}. */
export interface ReadStreamOptions {
  /** Only messages whose subject matches this filter (wildcards allowed); default all. */
  filter?: string;
  /** Give up after this many milliseconds without a new message; default 30000. */
  timeout?: number;
}

const API_TIMEOUT_MS = 5_000;
const decoder = new TextDecoder();

/**
 * Every message in `stream` (matching `opts.filter`), in stream order, up to the stream's last
 * sequence at the time of the call. Reads with an ordered consumer, which it deletes afterwards.
 */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  opts: ReadStreamOptions = {},
): Promise<StreamMessage[]> {
  const timeout = opts.timeout ?? 30_000;
  const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
  const { state } = await jsm.streams.info(stream);
  const lastSeq = state.last_seq;
  if (state.messages === 0) return [];
  const js = jetstream(nc, { timeout: API_TIMEOUT_MS });
  const consumer = await js.consumers.get(
    stream,
    opts.filter === undefined ? {} : { filter_subjects: opts.filter },
  );
  try {
    const info = await consumer.info(true);
    if (info.num_pending === 0) return [];
    const out: StreamMessage[] = [];
    let complete = false;
    const messages = await consumer.consume({ max_messages: 512 });
    // An idle timeout, restarted as messages arrive: a long stream read on a busy machine is slow,
    // not stuck.
    let timer = setTimeout(() => void messages.stop(), timeout);
    try {
      for await (const m of messages) {
        if (m.seq <= lastSeq) out.push(fromJsMsg(m));
        if ((out.length & 1023) === 0) {
          clearTimeout(timer);
          timer = setTimeout(() => void messages.stop(), timeout);
        }
        // info.pending counts the matching messages after this one (later publishes included).
        if (m.seq >= lastSeq || m.info.pending === 0) {
          complete = true;
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      await messages.close().catch(() => undefined);
    }
    if (!complete) {
      throw new HarnessError(
        HarnessErrorCode.Timeout,
        `readStream(${stream}): read ${out.length} messages (up to sequence ${out.at(-1)?.seq ?? 0} of ${lastSeq}) and got nothing new for ${timeout} ms`,
      );
    }
    return out;
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

/** The last message on `subject` in `stream` (a leader-consistent read), or null if there is none. */
export async function lastBySubject(
  nc: NatsConnection,
  stream: string,
  subject: string,
): Promise<StreamMessage | null> {
  const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
  const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  return m === null ? null : fromStoredMsg(m);
}

function fromJsMsg(m: JsMsg): StreamMessage {
  return {
    seq: m.seq,
    subject: m.subject,
    headers: headersToRecord(m.headers),
    data: parse(m.data),
    raw: m.data,
  };
}

function fromStoredMsg(m: StoredMsg): StreamMessage {
  return {
    seq: m.seq,
    subject: m.subject,
    headers: headersToRecord(m.header),
    data: parse(m.data),
    raw: m.data,
  };
}

function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [k, values] of h) out[k] = values.join(', ');
  return out;
}

function parse(raw: Uint8Array): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(raw)) as unknown;
  } catch {
    return undefined;
  }
}
