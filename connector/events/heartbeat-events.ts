/**
 * Position heartbeats: the event on `<prefix>.heartbeat` in the deltas stream that tells consumers
 * how far the source has been read while the captured tables are idle (see docs/events.md).
 *
 * A heartbeat transaction (connector/source/heartbeat-emitter.ts) reaches the change processor
 * like any other; at its commit, if nothing else was published on the deltas stream since the
 * previous heartbeat, one heartbeat event is published in it:
 *
 * - at the transaction's commit position with the commit marker's index, so its `version` sorts
 *   with every other event's and restarts skip it like any delta (streams.ts reads the last
 *   message's `data.version`); its id is derived from that position, so a resend is a duplicate;
 * - only after everything published before it was acknowledged (facts included: facts trail
 *   deltas), so a consumer that sees it knows every transaction committed before its `lsn` is in
 *   both streams — a read-your-writes fence on an idle database;
 * - in the heartbeat's own transaction ticket, so the slot moves past the heartbeat only once the
 *   event is acknowledged.
 *
 * While changes flow, their commit markers carry the position and heartbeats publish nothing: the
 * heartbeat transactions still move the slot. A heartbeat written on request (a message on
 * `<P>.signal.heartbeat`, sent by the query API while a read-your-writes fence waits) is published
 * in any case.
 */
import { heartbeatSubject } from '../../schemas/subjects.js';
import { formatLsn } from '../../schemas/versions.js';
import type { LogicalMessage, OutMessage } from '../ports.js';
import { HEARTBEAT_MESSAGE_PREFIX, heartbeatContent } from '../source/heartbeat-emitter.js';

/** The heartbeat event of a position: deterministic id, body a CloudEvent of type io.sluice.heartbeat. */
export function heartbeatMessage(
  prefix: string,
  source: string,
  commitLsn: bigint,
  commitTime: string,
  version: string,
): OutMessage {
  const id = `${source}:${version}:heartbeat`;
  return {
    subject: heartbeatSubject(prefix),
    id,
    body:
      `{"specversion":"1.0","id":"${id}","source":${JSON.stringify(`sluice/${source}`)},"type":"io.sluice.heartbeat",` +
      `"time":"${commitTime}","subject":"heartbeat","datacontenttype":"application/json","data":` +
      `{"lsn":"${formatLsn(commitLsn)}","commitTime":"${commitTime}","version":"${version}"}}`,
  };
}

/** What the publisher needs of the change processor. */
export interface HeartbeatTarget {
  publishHeartbeat(build: (commitLsn: bigint, commitTime: string, version: string) => OutMessage): boolean;
}

/** What the publisher needs of the sink: its deltas count and a wait until all is acknowledged. */
export interface HeartbeatSinkView {
  readonly stats: { readonly published: readonly number[] };
  drained(): Promise<void>;
}

const DELTAS = 1;

export class HeartbeatPublisher {
  readonly #prefix: string;
  readonly #source: string;
  readonly #content: string;
  readonly #requestedContent: string;
  readonly #target: HeartbeatTarget;
  readonly #sink: HeartbeatSinkView;
  /** Messages published on the deltas stream as of the previous heartbeat. */
  #deltasSeen: number;
  /** Heartbeat messages of this connector's slot seen, and heartbeat events published. */
  readonly stats = { received: 0, published: 0 };

  constructor(o: {
    prefix: string;
    source: string;
    slot: string;
    target: HeartbeatTarget;
    sink: HeartbeatSinkView;
  }) {
    this.#prefix = o.prefix;
    this.#source = o.source;
    this.#content = heartbeatContent(o.slot);
    this.#requestedContent = heartbeatContent(o.slot, true);
    this.#target = o.target;
    this.#sink = o.sink;
    this.#deltasSeen = o.sink.stats.published[DELTAS]!;
  }

  /** Whether a logical message is a heartbeat (of any connector on this database). */
  static isHeartbeat(m: LogicalMessage): boolean {
    return m.prefix === HEARTBEAT_MESSAGE_PREFIX;
  }

  /**
   * Handles a heartbeat message at its transaction's commit. Heartbeats of other connectors on the
   * same database (another slot) only move the slot, through their transaction.
   */
  async onMessage(m: LogicalMessage): Promise<void> {
    if (!m.transactional) return;
    const content = m.content.toString('utf8');
    const requested = content === this.#requestedContent;
    if (!requested && content !== this.#content) return;
    this.stats.received++;
    const published = this.#sink.stats.published[DELTAS]!;
    const idle = published === this.#deltasSeen;
    this.#deltasSeen = published;
    // A requested heartbeat (someone waits for the position to pass a point) is published even
    // while changes flow: the changes' own positions lie before the request.
    if (!idle && !requested) return;
    await this.#sink.drained();
    const sent = this.#target.publishHeartbeat((lsn, time, version) =>
      heartbeatMessage(this.#prefix, this.#source, lsn, time, version),
    );
    if (sent) this.stats.published++;
    this.#deltasSeen = this.#sink.stats.published[DELTAS]!;
  }
}
