/**
 * The facts side of `sluice verify`: the latest fact of given subjects (pipelined direct gets, the
 * connector's own FactReader; leader-consistent gets when the stream has replicas, as the
 * connector does), reference events resolved from the object store, the table's TRUNCATE marker,
 * and every subject of a table listed in bounded batches with an ordered consumer.
 */
import type { Config } from '../config.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { NatsClient, StreamManager } from '../nats-connection.js';
import { FactReader } from '../sink/fact-reader.js';
import { LargeEventStore } from '../sink/large-events.js';
import { isNotFound, JS_API_TIMEOUT_MS, lastFact, manager, streamSize } from '../sink/streams.js';
import { listLastPerSubject } from '../sink/subject-listing.js';
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

export class FactSource {
  readonly #nc: NatsClient;
  readonly #jsm: StreamManager;
  readonly #cfg: Config;
  readonly #stream: string;
  readonly #reader: FactReader | null;
  #large: Promise<LargeEventStore> | null = null;

  private constructor(nc: NatsClient, jsm: StreamManager, cfg: Config) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#cfg = cfg;
    this.#stream = streamNames(cfg.prefix).facts;
    // Direct get may be answered by a replica behind the leader: only for one replica (session.ts).
    this.#reader = cfg.streams.replicas === 1 ? new FactReader(nc, this.#stream, JS_API_TIMEOUT_MS) : null;
  }

  /** Opens the facts stream of `cfg.prefix`; a SluiceError when it does not exist. */
  static async open(nc: NatsClient, cfg: Config): Promise<FactSource> {
    const jsm = await manager(nc);
    const stream = streamNames(cfg.prefix).facts;
    try {
      await streamSize(jsm, stream);
    } catch (e) {
      if (isNotFound(e)) {
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
        const got = await Promise.all(slice.map((s) => lastFact(this.#jsm, this.#stream, s)));
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
    await listLastPerSubject(
      this.#nc,
      this.#jsm,
      this.#stream,
      factPrefix,
      batchSize,
      (subject, text) => {
        const token = subject.slice(factPrefix.length);
        return token === NO_KEY_TOKEN ? null : { subject, token, fact: parseFact(text, false) };
      },
      onBatch,
    );
  }

  /** Stops the direct-get reader. Idempotent. */
  close(): void {
    this.#reader?.close();
  }
}
