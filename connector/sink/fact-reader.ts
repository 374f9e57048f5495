/**
 * Reads the latest fact of an entity with pipelined direct gets: a plain publish to
 * `$JS.API.DIRECT.GET.<stream>` with a reply subject, answered on one wildcard subscription —
 * the same shape as the sink's publishes. nats.js's request API costs an Error object (with its
 * stack) and a timer per call, which dominated the profile when many updates touched rows not in
 * the cache. Direct get may be served by a replica behind the leader, so this reader is used only
 * for streams with one replica (see session.ts).
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

interface Pending {
  resolve(text: string | null): void;
  reject(err: Error): void;
  sentAt: number;
}

export class FactReader {
  readonly #nc: NatsConnection;
  readonly #api: string;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  readonly #timer: NodeJS.Timeout;
  #next = 0;

  /** @param timeoutMs milliseconds before an unanswered read fails */
  constructor(nc: NatsConnection, stream: string, timeoutMs: number) {
    this.#nc = nc;
    this.#api = `$JS.API.DIRECT.GET.${stream}`;
    this.#inbox = createInbox('_SLUICE_GET');
    this.#timeoutMs = timeoutMs;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => this.#onReply(err, msg) });
    this.#timer = setInterval(() => this.#expire(), Math.min(1000, timeoutMs));
    this.#timer.unref();
  }

  /** The stored text of the latest message on `subject`, or null when there is none. */
  get(subject: string): Promise<string | null> {
    const id = this.#next++;
    return new Promise<string | null>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, sentAt: Date.now() });
      try {
        this.#nc.publish(this.#api, `{"last_by_subj":${JSON.stringify(subject)}}`, {
          reply: `${this.#inbox}.${id}`,
        });
      } catch (e) {
        this.#pending.delete(id);
        reject(e as Error);
      }
    });
  }

  #onReply(err: Error | null, msg: Msg): void {
    const id = Number(msg.subject.slice(this.#inbox.length + 1));
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (err) return p.reject(err);
    const code = msg.headers?.code ?? 0;
    // A message has a Nats-Sequence header; "no message found" is status 404 with no body.
    if (code === 404) return p.resolve(null);
    if (code >= 400 || (msg.data.length === 0 && !msg.headers?.get('Nats-Sequence'))) {
      return p.reject(new Error(`direct get failed: ${code} ${msg.headers?.description ?? ''}`.trim()));
    }
    p.resolve(msg.string());
  }

  #expire(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (now - p.sentAt < this.#timeoutMs) break; // Map keeps send order
      this.#pending.delete(id);
      p.reject(new Error(`no answer to a direct get within ${this.#timeoutMs} ms`));
    }
  }

  /** Stops; unanswered reads fail. Idempotent. */
  close(): void {
    clearInterval(this.#timer);
    try {
      this.#sub.unsubscribe();
    } catch {
      /* connection already closed */
    }
    for (const p of this.#pending.values()) p.reject(new Error('fact reader closed'));
    this.#pending.clear();
  }
}
