/**
 * JetStream streams of a prefix: creation (only what is missing; never recreated or silently
 * changed), the state a session starts from (last sequence and last position per stream), reads of
 * the latest fact of an entity, and the purge that completes a TRUNCATE.
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import { parseVersion, type Position } from '../../schemas/versions.js';
import { heartbeatSubject, streamNames } from '../../schemas/subjects.js';
import { fragmentAt } from '../json-fragments.js';
import type { Logger } from '../logger.js';

/**
 * Milliseconds a JetStream API request may take (set explicitly: nats.js's default is not what its
 * docs say). A request sent while the connection drops gets no reply, so a long timeout only
 * delays the retry.
 */
export const JS_API_TIMEOUT_MS = 5_000;

export async function manager(nc: NatsConnection): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS });
  } catch (cause) {
    // Only a server that answers "not enabled" is misconfigured; a timeout or a lost connection
    // is an outage the connector waits out.
    if (isJetStreamDisabled(cause)) {
      throw new SluiceError(ErrorCodes.jetstreamDisabled, 'JetStream is not enabled on the NATS server.', {
        hint: 'Start nats-server with -js (or a jetstream {} block in its config).',
        cause,
      });
    }
    throw new SluiceError(
      ErrorCodes.natsUnreachable,
      `JetStream does not answer: ${(cause as Error).message}.`,
      {
        hint: 'NATS is down or overloaded; Sluice retries.',
        cause,
      },
    );
  }
}

/**
 * Desired configuration of the facts and deltas streams, and of the streams shared with other
 * writers: `<P>_EVENTS` (domain and integration events) and `<P>_DLQ` (dead letters).
 */
export function desiredStreams(cfg: Config): {
  facts: Partial<StreamConfig>;
  deltas: Partial<StreamConfig>;
  events: Partial<StreamConfig>;
  dlq: Partial<StreamConfig>;
} {
  const names = streamNames(cfg.prefix);
  const common = {
    num_replicas: cfg.streams.replicas,
    storage: cfg.streams.storage as StreamConfig['storage'],
    duplicate_window: nanos(cfg.streams.duplicateWindowSec * 1000),
    discard: 'old' as StreamConfig['discard'],
  };
  return {
    facts: {
      ...common,
      name: names.facts,
      description: `Sluice facts of source ${cfg.source}: the latest state of every row`,
      subjects: [`${cfg.prefix}.fact.>`],
      max_msgs_per_subject: cfg.streams.factsPerSubject,
      allow_direct: true,
      retention: 'limits' as StreamConfig['retention'],
    },
    deltas: {
      ...common,
      name: names.deltas,
      description: `Sluice deltas, transaction markers, schema events and heartbeats of source ${cfg.source}`,
      subjects: [
        `${cfg.prefix}.delta.>`,
        `${cfg.prefix}.tx.>`,
        `${cfg.prefix}.schema.>`,
        heartbeatSubject(cfg.prefix),
      ],
      max_age: nanos(cfg.streams.deltasMaxAgeSec * 1000),
      max_bytes: cfg.streams.deltasMaxBytes,
      allow_direct: true,
      retention: 'limits' as StreamConfig['retention'],
    },
    // Kept like the deltas: a history consumers replay.
    events: {
      ...common,
      name: names.events,
      description: `Domain and integration events of source ${cfg.source}`,
      subjects: [`${cfg.prefix}.events.>`],
      max_age: nanos(cfg.streams.deltasMaxAgeSec * 1000),
      max_bytes: cfg.streams.deltasMaxBytes,
      allow_direct: true,
      retention: 'limits' as StreamConfig['retention'],
    },
    // As the consumer runtime creates it: kept until dropped or redriven.
    dlq: {
      ...common,
      name: names.dlq,
      description: 'Sluice dead letters, redrive requests and their records',
      subjects: [`${cfg.prefix}.dlq.>`],
      retention: 'limits' as StreamConfig['retention'],
    },
  };
}

/** Creates the streams that are missing. Existing ones are left as they are (logged if they differ). */
export async function ensureStreams(jsm: JetStreamManager, cfg: Config, log: Logger): Promise<void> {
  const want = desiredStreams(cfg);
  for (const desired of [want.facts, want.deltas, want.events, want.dlq]) {
    try {
      const info = await jsm.streams.info(desired.name!);
      let missing = desired.subjects!.filter((s) => !info.config.subjects.includes(s));
      const addable = laterSubjects(cfg.prefix);
      if (missing.length && missing.every((s) => addable.includes(s))) {
        await addSubjects(jsm, desired.name!, info.config.subjects, missing);
        log.info({ stream: desired.name, subjects: missing }, 'added subjects to the stream');
        missing = [];
      }
      if (missing.length) {
        throw new SluiceError(
          ErrorCodes.streamMismatch,
          `stream ${desired.name} exists but does not capture ${missing.join(', ')}.`,
          { hint: `Add the subjects to the stream or choose another prefix (SLUICE_PREFIX).` },
        );
      }
      if (desired.max_msgs_per_subject && info.config.max_msgs_per_subject !== desired.max_msgs_per_subject) {
        log.warn(
          {
            stream: desired.name,
            have: info.config.max_msgs_per_subject,
            want: desired.max_msgs_per_subject,
          },
          'stream exists with another max_msgs_per_subject; leaving it as it is',
        );
      }
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      if (!isNotFound(e)) throw e;
      await jsm.streams.add(desired as StreamConfig);
      log.info({ stream: desired.name }, 'created stream');
    }
  }
}

/**
 * Subjects the deltas stream gained after streams were first created. A stream made by an earlier
 * Sluice lacks them; they are added to it (an update keeps every stored message) instead of
 * refusing to start.
 */
function laterSubjects(prefix: string): string[] {
  return [`${prefix}.schema.>`, heartbeatSubject(prefix)];
}

async function addSubjects(
  jsm: JetStreamManager,
  stream: string,
  have: readonly string[],
  add: readonly string[],
): Promise<void> {
  try {
    await jsm.streams.update(stream, { subjects: [...have, ...add] });
  } catch (cause) {
    throw new SluiceError(
      ErrorCodes.streamMismatch,
      `stream ${stream} exists without the subjects ${add.join(', ')} and could not be updated: ${(cause as Error).message}.`,
      {
        hint: `Add ${add.join(', ')} to the stream's subjects (no other stream may capture them), or choose another prefix (SLUICE_PREFIX).`,
        cause,
      },
    );
  }
}

/** A JetStream API error with the given code (nats.js keeps it on `JetStreamApiError.code`). */
function isApiError(e: unknown, code: number): boolean {
  return e instanceof JetStreamApiError && e.code === code;
}

/** The stream asked for does not exist (JetStream API code 10059). */
export function isNotFound(e: unknown): boolean {
  return isApiError(e, JetStreamApiCodes.StreamNotFound);
}

/**
 * No JetStream on the server (nats.js's `JetStreamNotEnabled`, which its public module does not
 * export, so it is recognised by its class name) or not for this account (API code 10039).
 */
export function isJetStreamDisabled(e: unknown): boolean {
  return (
    (e instanceof Error && e.name === 'JetStreamNotEnabled') ||
    isApiError(e, JetStreamApiCodes.JetStreamNotEnabledForAccount)
  );
}

/** Where a stream stands: its last sequence and the position of its last message. */
export interface StreamState {
  lastSeq: number;
  /** Position of the last stored message, or null when the stream is empty or it aged out. */
  lastPosition: Position | null;
}

/** A stream's size, as `sluice status` shows it. */
export interface StreamSize {
  messages: number;
  bytes: number;
  lastSeq: number;
  /** Distinct subjects stored (0 when the server does not say). */
  subjects: number;
}

/** Reads a stream's size; throws when it does not exist ({@link isNotFound}). */
export async function streamSize(jsm: JetStreamManager, stream: string): Promise<StreamSize> {
  const { state } = await jsm.streams.info(stream);
  return {
    messages: state.messages,
    bytes: state.bytes,
    lastSeq: state.last_seq,
    subjects: state.num_subjects ?? 0,
  };
}

/** Reads the state a session starts from. */
export async function streamState(jsm: JetStreamManager, stream: string): Promise<StreamState> {
  const info = await jsm.streams.info(stream);
  const lastSeq = info.state.last_seq;
  if (lastSeq === 0 || info.state.messages === 0) return { lastSeq, lastPosition: null };
  const msg = await jsm.streams.getMessage(stream, { seq: lastSeq });
  if (!msg) return { lastSeq, lastPosition: null };
  const version = fragmentAt(msg.string(), ['data', 'version']);
  return { lastSeq, lastPosition: version ? parseVersion(JSON.parse(version) as string) : null };
}

/** The stored text of the latest fact on a subject (leader-consistent read), or null. */
export async function lastFact(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<string | null> {
  const msg = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  return msg ? msg.string() : null;
}

/**
 * The latest message on a subject (leader-consistent): its sequence and `data.version` (null when
 * it has none), or null when the subject holds nothing.
 */
export async function subjectHead(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<{ seq: number; version: string | null } | null> {
  const msg = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  if (!msg) return null;
  const version = fragmentAt(msg.string(), ['data', 'version']);
  return { seq: msg.seq, version: version ? (JSON.parse(version) as string) : null };
}

/** Sequence of the latest message on a subject, or 0. */
export async function lastSeqOf(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  const msg = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  return msg ? msg.seq : 0;
}

/** Removes every message matching `filter` below sequence `seq` (the TRUNCATE of a table's facts). */
export async function purgeBelow(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  seq: number,
): Promise<number> {
  const r = await jsm.streams.purge(stream, { filter, seq });
  return r.purged;
}
