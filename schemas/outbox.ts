/**
 * The outbox and the application context, as a contract (see docs/events.md, "Domain events").
 *
 * An application emits logical decoding messages inside its own transaction:
 * - prefix `sluice.outbox`, content `{"type": …, "key": …, "payload": …}`: a domain event, published
 *   by the connector on `<P>.events.<type>` in `<P>_EVENTS`, atomically with the transaction's rows;
 * - prefix `sluice.context`, content any small JSON object: attached as `data.context` to every
 *   event of the transaction that follows it.
 *
 * Pure: zod and Node built-ins only.
 */
import { z } from 'zod';
import { EventContext, TxInfo } from './events.js';

/** Logical message prefix of outbox events. */
export const OUTBOX_PREFIX = 'sluice.outbox';
/** Logical message prefix of the application context. */
export const CONTEXT_PREFIX = 'sluice.context';
/** Largest context, in bytes of its JSON text: it is copied into every event of the transaction. */
export const MAX_CONTEXT_BYTES = 8192;

/** A domain event type: dot-separated tokens of `[A-Za-z0-9_-]`, each one a subject token. */
export const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Longest event type, in characters. */
export const MAX_EVENT_TYPE_LENGTH = 200;

/** Content of a `sluice.outbox` message, as the application writes it. */
export const OutboxMessage = z.object({
  type: z
    .string()
    .max(MAX_EVENT_TYPE_LENGTH)
    .regex(EVENT_TYPE, 'expected dot-separated [A-Za-z0-9_-] tokens'),
  key: z.string(),
  payload: z.unknown().refine((v) => v !== undefined, 'payload is required'),
});
export type OutboxMessage = z.infer<typeof OutboxMessage>;

const version = z.string().regex(/^[0-9a-f]{16}-[0-9a-f]{8}$/);

/**
 * `data` of a domain event on `<P>.events.<type>`. `version` is its position in the source's commit
 * order, comparable with the versions of the transaction's facts and deltas (`tx.seq` is its index).
 */
export const OutboxEventData = z.object({
  type: z.string(),
  key: z.string(),
  payload: z.unknown(),
  version,
  tx: TxInfo,
  context: EventContext.optional(),
});
export type OutboxEventData = z.infer<typeof OutboxEventData>;

/**
 * `data` of an outbox message the connector could not publish (on `<P>.dlq.connector.outbox` in
 * `<P>_DLQ`): why, and the message as the application wrote it.
 */
export const OutboxDeadLetterData = z.object({
  reason: z.enum(['unreadable', 'invalid', 'contract']),
  error: z.string(),
  /** The message content as text (UTF-8), exactly as emitted. */
  message: z.string(),
  /** The event type, when the message named one. */
  type: z.string().optional(),
  version,
  tx: TxInfo,
  context: EventContext.optional(),
});
export type OutboxDeadLetterData = z.infer<typeof OutboxDeadLetterData>;

/** `<P>.events.<type>`: the subject of a domain event. */
export function outboxSubject(prefix: string, type: string): string {
  return `${prefix}.events.${type}`;
}

/** `<P>.dlq.connector.outbox`: where the connector dead-letters outbox messages it cannot publish. */
export function outboxDeadLetterSubject(prefix: string): string {
  return `${prefix}.dlq.connector.outbox`;
}

/** Anything that validates like a zod schema (the application's own zod, whatever its copy). */
export interface PayloadContract {
  safeParse(value: unknown): { success: true } | { success: false; error: { issues: readonly unknown[] } };
}

/** Payload contracts by event type, as a contracts module exports them (default export). */
export type EventContracts = Readonly<Record<string, PayloadContract>>;

/**
 * Declares the payload contracts of domain events, for the connector's `outboxContracts` module:
 * `export default defineEventContracts({ 'order.placed': z.object({ … }) })`. Types are checked here.
 */
export function defineEventContracts<T extends Record<string, PayloadContract>>(contracts: T): T {
  for (const type of Object.keys(contracts)) {
    if (!EVENT_TYPE.test(type)) {
      throw new TypeError(`event type "${type}" must be dot-separated tokens of [A-Za-z0-9_-]`);
    }
    if (typeof contracts[type]?.safeParse !== 'function') {
      throw new TypeError(`the contract of "${type}" must be a zod schema (it has no safeParse)`);
    }
  }
  return Object.freeze({ ...contracts });
}
