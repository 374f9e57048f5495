/**
 * The NATS connection of a connector process: made once, reconnecting forever, its status changes
 * logged. A lost connection ends the running session at once (replies to what was sent just before
 * it are lost, and waiting for their timeouts would only delay the resynchronisation); its return
 * ends a restart's backoff early.
 *
 * The NATS client is wrapped here and in `sink/` (the NATS stage) only: the rest of the connector
 * holds a {@link NatsClient} and a {@link StreamManager} and hands them to sink/ functions, never
 * importing `@nats-io/*` (`scripts/import-rules.test.ts` enforces it).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectToNats } from '../connections/nats-connect.js';
import type { Config } from './config.js';
import { ErrorCodes, SluiceError, natsConnectError } from './errors.js';
import type { Logger } from './logger.js';

/** A connection to NATS, as the connector passes it to the sink/ modules that use it. */
export type NatsClient = NatsConnection;

/** JetStream's management API on a {@link NatsClient} (`manager` in sink/streams.ts opens it). */
export type StreamManager = JetStreamManager;

/** Calls `onMessage` for each message published on `subject`, until `unsubscribe()`. */
export function subscribe(nc: NatsClient, subject: string, onMessage: () => void): { unsubscribe(): void } {
  return nc.subscribe(subject, { callback: () => onMessage() });
}

/** Connects to NATS as a daemon: reconnect forever, report status changes. */
export async function connectNats(
  cfg: Config,
  log: Logger,
  name = 'sluice',
  onStatus: (type: string) => void = () => undefined,
): Promise<NatsClient> {
  try {
    const nc = await connectToNats(cfg, { name, daemon: true });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
          log.warn({ module: 'nats', status: s.type }, `NATS ${s.type}`);
        }
        onStatus(s.type);
      }
    })();
    return nc;
  } catch (cause) {
    throw natsConnectError(cause);
  }
}

export interface ProcessNatsHooks {
  /** The connection was lost: called with the error that ends the running session. */
  lost(e: Error): void;
  /** The connection is back. */
  back(): void;
}

/** The process's one NATS connection, made on first use. */
export class ProcessNats {
  readonly #cfg: Config;
  readonly #log: Logger;
  readonly #hooks: ProcessNatsHooks;
  #nc: NatsClient | null = null;

  constructor(cfg: Config, log: Logger, hooks: ProcessNatsHooks) {
    this.#cfg = cfg;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** The connection, made now if it is not yet. */
  async connection(): Promise<NatsClient> {
    this.#nc ??= await connectNats(this.#cfg, this.#log, 'sluice', (type) => {
      if (type === 'disconnect')
        this.#hooks.lost(new SluiceError(ErrorCodes.natsUnreachable, 'the connection to NATS was lost.'));
      if (type === 'reconnect') this.#hooks.back();
    });
    return this.#nc;
  }

  /** Drains and closes the connection, if one was made. */
  async drain(): Promise<void> {
    await this.#nc?.drain().catch(() => undefined);
    this.#nc = null;
  }
}
