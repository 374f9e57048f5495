/**
 * Logical decoding messages (pg_logical_emit_message) in the change stream, routed by prefix:
 *
 * - the application's `sluice.outbox` / `sluice.context` messages are handled where they stand in
 *   their transaction (domain-events.ts); a non-transactional one belongs to no transaction — it
 *   can be neither atomic with rows nor given a position — so it is ignored with a warning naming
 *   the fix;
 * - any other message (snapshot watermarks, heartbeats) goes to the session's handler: a
 *   transactional one is buffered and delivered at its transaction's commit, before the commit
 *   marker, with the index the next event would take (so rows the handler emits join that
 *   transaction); a non-transactional one at once, at its own LSN.
 */
import type { LogicalMessage } from '../ports.js';
import type { Logger } from '../logger.js';
import { formatLsn } from '../../schemas/versions.js';
import { CONTEXT_PREFIX, OUTBOX_PREFIX } from '../../schemas/outbox.js';
import type { DomainEvents, EventTx } from './domain-events.js';

/** The open transaction as the message routing sees it. */
export interface MessageTx extends EventTx {
  /** Transactional messages buffered for delivery at the commit. */
  readonly messages: LogicalMessage[];
}

export interface LogicalMessageOptions {
  /** Where messages of other prefixes go; without it they are dropped. */
  onLogicalMessage?: ((msg: LogicalMessage) => void | Promise<void>) | undefined;
  domainEvents: DomainEvents;
  /** Whether `sluice.outbox` messages are handled (domain events configured). */
  outbox: boolean;
  log: Logger;
}

export class LogicalMessages {
  readonly #o: LogicalMessageOptions;
  #warned = false;

  constructor(opts: LogicalMessageOptions) {
    this.#o = opts;
  }

  /** One message; `tx` is the open transaction, or null between transactions. */
  handle(
    tx: MessageTx | null,
    prefix: string,
    content: Buffer,
    transactional: boolean,
    lsn: bigint,
  ): void | Promise<void> {
    if (prefix === OUTBOX_PREFIX || prefix === CONTEXT_PREFIX) {
      return this.#application(tx, prefix, content, transactional, lsn);
    }
    if (!this.#o.onLogicalMessage) return;
    // `content` is already a copy (decodePgoutput copies it out of pg's reused read buffer).
    if (transactional) {
      if (!tx) throw new Error('pgoutput change outside a transaction');
      tx.messages.push({ prefix, content, transactional, commitLsn: tx.commitLsn, idx: -1 });
      return;
    }
    return this.#o.onLogicalMessage({ prefix, content, transactional, commitLsn: lsn, idx: 0 });
  }

  /** At the commit: delivers the transaction's buffered messages; a promise only when there are any. */
  deliver(tx: MessageTx): void | Promise<void> {
    if (tx.messages.length) return this.#deliver(tx);
  }

  async #deliver(tx: MessageTx): Promise<void> {
    for (const m of tx.messages) {
      m.idx = tx.idx;
      await this.#o.onLogicalMessage!(m);
    }
  }

  #application(
    tx: MessageTx | null,
    prefix: string,
    content: Buffer,
    transactional: boolean,
    lsn: bigint,
  ): void | Promise<void> {
    if (!transactional || !tx || (prefix === OUTBOX_PREFIX && !this.#o.outbox)) {
      if (!this.#warned) {
        this.#warned = true;
        this.#o.log.warn(
          { prefix, lsn: formatLsn(lsn) },
          transactional
            ? `a ${prefix} message arrived but domain events are not enabled in this processor; it is ignored.`
            : `a non-transactional ${prefix} message is ignored: emit it with pg_logical_emit_message(true, …) inside the transaction (sluice.emit and sluice.set_context do).`,
        );
      }
      return;
    }
    if (prefix === CONTEXT_PREFIX) return this.#o.domainEvents.context(tx, content);
    return this.#o.domainEvents.outbox(tx, content);
  }
}
