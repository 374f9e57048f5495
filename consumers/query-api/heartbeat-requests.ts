/**
 * The query API's line to the connector: publishes heartbeat requests on `<P>.signal.heartbeat`
 * (a plain NATS subject, in no stream; see docs/events.md "Heartbeats on request") while a
 * read-your-writes fence waits. Fire and forget: a lost request is repeated by the position watcher,
 * and without any the connector's timed heartbeats still move the position.
 */
import { heartbeatRequestSubject } from '../../schemas/subjects.js';
import type { NatsTarget } from '../../connections/nats-connect.js';
import { connectNats, type NatsConnection } from '../runtime/jetstream-client.js';

export class HeartbeatRequests {
  readonly #nc: NatsConnection;
  readonly #subject: string;

  private constructor(nc: NatsConnection, prefix: string) {
    this.#nc = nc;
    this.#subject = heartbeatRequestSubject(prefix);
  }

  /** `o`: the NATS settings (URL, TLS, credentials) and the prefix. */
  static async connect(o: NatsTarget & { prefix: string }): Promise<HeartbeatRequests> {
    const nc = await connectNats(o, 'sluice-query-api');
    return new HeartbeatRequests(nc, o.prefix);
  }

  /** Asks for a heartbeat now. */
  request(): void {
    if (!this.#nc.isClosed()) this.#nc.publish(this.#subject);
  }

  async close(): Promise<void> {
    await this.#nc.drain().catch(() => undefined);
  }
}
