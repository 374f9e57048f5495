/**
 * Operations on consumers that do not run their handlers: where each one stands (`sluice consumers
 * list|status`) and rewinding one (`sluice consumers reset`).
 */
import { streamNames } from '../../schemas/subjects.js';
import { DeadLetterStore } from './dead-letters.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import type { ConsumerInfo, DurableSettings, JetStreamClient } from './jetstream-client.js';

/** Where a consumer stands. */
export interface ConsumerStatus {
  name: string;
  stream: string;
  /** Filter subjects (none = the whole stream). */
  filter: string[];
  /** Stream sequence up to which every message is acknowledged (the consumer's position). */
  position: number;
  /** Highest stream sequence delivered. */
  delivered: number;
  /** Messages not delivered yet (the lag, in messages). */
  pending: number;
  /** Delivered and not acknowledged yet. */
  ackPending: number;
  /** Messages delivered more than once and not acknowledged yet. */
  redelivered: number;
  /** Open dead letters. */
  deadLetters: number;
  /** Seconds since the consumer last acknowledged (null when it never did). */
  lastActiveSec: number | null;
  /** Processes pulling right now (waiting pull requests). */
  waiting: number;
}

/** Where the rewind goes: the first message, a time, or a stream sequence. */
export type ResetTarget =
  { kind: 'beginning' } | { kind: 'time'; time: Date } | { kind: 'sequence'; seq: number };

/** Parses `--from beginning|<ISO time>|<stream sequence>`. */
export function parseResetTarget(s: string): ResetTarget {
  if (s === 'beginning') return { kind: 'beginning' };
  if (/^\d+$/.test(s)) {
    const seq = Number(s);
    if (seq >= 1 && Number.isSafeInteger(seq)) return { kind: 'sequence', seq };
  } else if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = new Date(s);
    if (!Number.isNaN(t.getTime())) return { kind: 'time', time: t };
  }
  throw new ConsumerError(
    ConsumerErrorCodes.config,
    `--from "${s}" is neither "beginning", an ISO time nor a stream sequence.`,
    {
      hint: 'Examples: --from beginning, --from 2026-11-24T10:00:00Z, --from 1500.',
    },
  );
}

function isSluiceConsumer(c: ConsumerInfo): boolean {
  return (c.config.description ?? '').startsWith('Sluice consumer ');
}

/** Every Sluice consumer of a prefix (on its facts and deltas streams). */
export async function listConsumers(client: JetStreamClient, prefix: string): Promise<ConsumerStatus[]> {
  const names = streamNames(prefix);
  const dlq = new DeadLetterStore(client, prefix);
  const out: ConsumerStatus[] = [];
  for (const stream of [names.facts, names.deltas]) {
    for (const c of await client.listDurables(stream)) {
      if (!isSluiceConsumer(c)) continue;
      out.push(await toStatus(c, dlq));
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function toStatus(c: ConsumerInfo, dlq: DeadLetterStore): Promise<ConsumerStatus> {
  // The server sends an ISO time (nats.js types it as nanos); absent before the first ack.
  const la = c.ack_floor.last_active as unknown;
  const last = typeof la === 'string' ? Date.parse(la) : NaN;
  return {
    name: c.name,
    stream: c.stream_name,
    filter: c.config.filter_subjects ?? (c.config.filter_subject ? [c.config.filter_subject] : []),
    position: c.ack_floor.stream_seq,
    delivered: c.delivered.stream_seq,
    pending: c.num_pending,
    ackPending: c.num_ack_pending,
    redelivered: c.num_redelivered,
    deadLetters: (await dlq.list(c.name)).length,
    lastActiveSec: Number.isNaN(last) ? null : Math.max(0, Math.round((Date.now() - last) / 1000)),
    waiting: c.num_waiting,
  };
}

/** Finds a consumer by name on the prefix's facts or deltas stream. */
export async function findConsumer(
  client: JetStreamClient,
  prefix: string,
  name: string,
): Promise<ConsumerInfo> {
  const names = streamNames(prefix);
  for (const stream of [names.deltas, names.facts]) {
    const c = await client.durableInfo(stream, name);
    if (c && isSluiceConsumer(c)) return c;
  }
  throw new ConsumerError(ConsumerErrorCodes.notFound, `there is no consumer ${name} (prefix ${prefix}).`, {
    hint: '"sluice consumers list" shows the consumers; a consumer exists once "sluice consumers run" started it.',
  });
}

/**
 * Rewinds a consumer: it is recreated with the same settings, starting at the target, so the
 * next delivery is the target's message (replay). Messages delivered and not acknowledged are
 * forgotten with the old consumer. Running processes pick the new consumer up by themselves, but
 * events they hold were delivered by the old one: stop them first for an exact replay.
 */
export async function resetConsumer(
  client: JetStreamClient,
  prefix: string,
  name: string,
  target: ResetTarget,
): Promise<ConsumerStatus> {
  const c = await findConsumer(client, prefix, name);
  const cfg = c.config;
  const settings: DurableSettings = {
    name,
    description: cfg.description ?? `Sluice consumer ${name}`,
    ackWaitMs: Math.round((cfg.ack_wait ?? 30e9) / 1e6),
    maxAckPending: cfg.max_ack_pending ?? 1000,
    filter: cfg.filter_subjects?.length
      ? { filter_subjects: cfg.filter_subjects }
      : cfg.filter_subject
        ? { filter_subject: cfg.filter_subject }
        : {},
    start:
      target.kind === 'beginning'
        ? { kind: 'all' }
        : target.kind === 'time'
          ? { kind: 'time', time: target.time }
          : { kind: 'sequence', seq: target.seq },
  };
  await client.deleteDurable(c.stream_name, name);
  const created = await client.addDurable(c.stream_name, settings);
  return toStatus(created, new DeadLetterStore(client, prefix));
}
