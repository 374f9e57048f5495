/**
 * The facts side of `sluice verify`: the latest fact of given subjects (pipelined direct gets, the
 * connector's own FactReader; leader-consistent gets when the stream has replicas, as the
 * connector does), reference events resolved from the object store, the table's TRUNCATE marker,
 * and every subject of a table listed in bounded batches with an ordered consumer.
 */
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import { FactReader } from '../sink/fact-reader.js';
import { LargeEventStore } from '../sink/large-events.js';
import { JS_API_TIMEOUT_MS, manager } from '../sink/streams.js';
import { NO_KEY_TOKEN } from '../../schemas/keys.js';
import { streamNames } from '../../schemas/subjects.js';
import { parseFact, type FactState } from './compare.js';

/** A fact as listed from the stream. */
export interface ListedFact {
  readonly subject: string;
  /** The key token (last subject token). */
  readonly token: string;
  readonly fact: FactState;
}

/** Concurrent leader-consistent gets when direct gets are not used (replicated streams). */
const LEADER_GET_CONCURRENCY = 64;
/** Milliseconds one listing fetch waits for messages. */
const FETCH_EXPIRES_MS = 5_000;

export class FactSource {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #cfg: Config;
  readonly #stream: string;
  readonly #reader: FactReader | null;
  #large: Promise<LargeEventStore> | null = null;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, cfg: Config) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#cfg = cfg;
    this.#stream = streamNames(cfg.prefix).facts;
    // Direct get may be answered by a replica behind the leader: only for one replica (session.ts).
    this.#reader = cfg.streams.replicas === 1 ? new FactReader(nc, this.#stream, JS_API_TIMEOUT_MS) : null;
  }

  /** Opens the facts stream of `cfg.prefix`; a SluiceError when it does not exist. */
  static async open(nc: NatsConnection, cfg: Config): Promise<FactSource> {
    const jsm = await manager(nc);
    const stream = streamNames(cfg.prefix).facts;
    try {
      await jsm.streams.info(stream);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
        throw new SluiceError(
          ErrorCodes.streamMissing,
          `the facts stream ${stream} does not exist: no connector has run with prefix "${cfg.prefix}" on this NATS.`,
          {
            hint: 'Start "sluice run" first, or set SLUICE_PREFIX to the prefix the connector uses.',
            cause: e,
          },
        );
      }
      throw e;
    }
    return new FactSource(nc, jsm, cfg);
  }

  /** Name of the facts stream. */
  get stream(): string {
    return this.#stream;
  }

  /** The latest fact of each subject (null: none), reference events resolved. */
  async latest(subjects: readonly string[]): Promise<(FactState | null)[]> {
    let texts: (string | null)[];
    if (this.#reader) {
      const reader = this.#reader;
      texts = await Promise.all(subjects.map((s) => reader.get(s)));
    } else {
      texts = [];
      for (let i = 0; i < subjects.length; i += LEADER_GET_CONCURRENCY) {
        const slice = subjects.slice(i, i + LEADER_GET_CONCURRENCY);
        const got = await Promise.all(
          slice.map(async (s) => {
            const m = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: s });
            return m ? m.string() : null;
          }),
        );
        texts.push(...got);
      }
    }
    return Promise.all(texts.map((t) => (t === null ? null : this.#parse(t))));
  }

  async #parse(text: string): Promise<FactState> {
    const fact = parseFact(text);
    if (!fact.isReference) return fact;
    // Larger than max_payload: the whole event is in the object store (sink/large-events.ts).
    this.#large ??= LargeEventStore.open(this.#nc, this.#cfg.prefix, this.#cfg.streams.replicas);
    return parseFact(await (await this.#large).resolve(text));
  }

  /** The version of the table's TRUNCATE marker (`<factPrefix>@none`), or null when there is none. */
  async truncatedAt(factPrefix: string): Promise<string | null> {
    const [marker] = await this.latest([factPrefix + NO_KEY_TOKEN]);
    return marker && marker.deleted ? marker.version : null;
  }

  /**
   * Lists the latest fact of every subject under `factPrefix` (`<P>.fact.<schema>.<table>.`) in
   * batches of at most `batchSize`, handing each batch to `onBatch` before fetching the next: an
   * ordered consumer delivering the last message per subject, then what is published meanwhile.
   * TRUNCATE markers are not rows and are left out. Rows are not parsed and reference events not
   * resolved: the key, version and deleted flag are all the listing needs.
   */
  async list(
    factPrefix: string,
    batchSize: number,
    onBatch: (batch: ListedFact[]) => Promise<void>,
  ): Promise<void> {
    const { state } = await this.#jsm.streams.info(this.#stream);
    if (state.messages === 0) return;
    const js = jetstream(this.#nc, { timeout: JS_API_TIMEOUT_MS });
    const consumer = await js.consumers.get(this.#stream, {
      filter_subjects: factPrefix + '*',
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    // It reads until nothing is pending. A subject whose message was replaced by a newer one before
    // the consumer reached it is skipped there and found at its newer message; only the live end of
    // the stream is sure to hold every subject's latest message, so stopping at the end as it was at
    // the start would lose subjects changed during the listing. Facts changed during the listing may
    // be listed twice, which only repeats a lookup.
    try {
      if ((await consumer.info(true)).num_pending === 0) return;
      for (;;) {
        const batch: ListedFact[] = [];
        let done = false;
        const messages = await consumer.fetch({ max_messages: batchSize, expires: FETCH_EXPIRES_MS });
        for await (const m of messages) {
          const token = m.subject.slice(factPrefix.length);
          if (token !== NO_KEY_TOKEN)
            batch.push({ subject: m.subject, token, fact: parseFact(m.string(), false) });
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

  /** Stops the direct-get reader. Idempotent. */
  close(): void {
    this.#reader?.close();
  }
}
