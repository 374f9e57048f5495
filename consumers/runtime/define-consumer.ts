/**
 * `defineConsumer({...})`: the public contract of a consumer module. The definition is validated
 * once, here, into a frozen object with every default filled in; a bad value fails at once with
 * one sentence naming the setting and the fix.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { DeltaEvent, FactEvent, TxMarkerEvent } from '../../schemas/events.js';
import type { Op } from '../../schemas/subjects.js';
import { backoffProblem, DEFAULT_BACKOFF, type Backoff } from './backoff.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import type { FactLookup } from './fact-lookup.js';

/** Where an event sits: its stream, stream sequence and (facts and deltas) its version. */
export interface EventPosition {
  /** `<P>_FACTS` or `<P>_DELTAS`. */
  readonly stream: string;
  /** Stream sequence of the message (what `sluice consumers reset --from <sequence>` takes). */
  readonly sequence: number;
  /** The event's `data.version` (commit LSN and index, string-comparable). */
  readonly version: string;
}

/** The delivered NATS message, as received (before large-event resolution). */
export interface RawMessage {
  readonly subject: string;
  readonly stream: string;
  readonly sequence: number;
  /** Deliveries of this message so far, this one included (server count, survives restarts). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /** When JetStream stored it. */
  readonly time: Date;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}

/** Options of {@link ConsumerContext.publish}. */
export interface PublishOptions {
  /**
   * Deduplication id (`Nats-Msg-Id`). Default: derived from the event id, the subject and the
   * publish's index within the handler call, so a retried handler publishes each follow-up once
   * (within the stream's duplicate window).
   */
  id?: string;
  headers?: Record<string, string>;
}

/** What a handler gets besides the event. */
export interface ConsumerContext {
  /** pino child logger with `consumer`, `subject` and `seq`. */
  readonly log: Logger;
  /** Delivery number of this event, 1 on the first try (counted by the server, across restarts). */
  readonly attempt: number;
  /** The raw message. For `handleTransaction`, the commit marker's message. */
  readonly msg: RawMessage;
  /** The event's position. For `handleTransaction`, the commit marker's. */
  readonly position: EventPosition;
  /** Aborted when the runtime stops: long handlers may finish early by throwing (the event is retried). */
  readonly signal: AbortSignal;
  /** Tells the server the handler is still working, so the event is not redelivered (resets ackWait). */
  working(): void;
  /** Publishes a follow-up event (JSON) to a JetStream subject; resolves once the stream stored it. */
  publish(subject: string, data: unknown, opts?: PublishOptions): Promise<void>;
  /**
   * Runs a side effect once per `id` (e.g. the event id): skipped when this consumer already
   * recorded `id` as done (kept 7 days in the KV bucket `<P>_PROCESSED`). Resolves whether it ran.
   */
  once(id: string, fn: () => Promise<void> | void): Promise<boolean>;
  /** The connector's subject prefix (setting `prefix`), e.g. to build subjects to publish on. */
  readonly prefix: string;
  /**
   * Current state of related rows, read by key from `<P>_FACTS` (direct gets, sent together):
   * `ctx.facts.rows('public.customers', [{ id: '4' }])`.
   */
  readonly facts: FactLookup;
  /**
   * Asks the connector for a position heartbeat now (a core NATS message on
   * `<P>.signal.heartbeat`, docs/events.md): on an idle source, positions then move past a fresh
   * fence within milliseconds instead of at the next timed heartbeat.
   */
  requestHeartbeat(): void;
}

/** What `from` delivers. */
export type EventOf<F extends 'facts' | 'deltas'> = F extends 'facts' ? FactEvent : DeltaEvent;

/** Where a new consumer starts. */
export type StartAt = 'beginning' | 'now' | 'facts';

/** What `handle` receives: with `start: 'facts'`, the facts first (type `io.sluice.fact`), then deltas. */
export type HandledEvent<F extends 'facts' | 'deltas', S extends StartAt> = S extends 'facts'
  ? FactEvent | DeltaEvent
  : EventOf<F>;

/** A whole source transaction, for `handleTransaction`. */
export interface SourceTransaction {
  /** The transaction's deltas (only those of the selected tables and ops), in `tx.seq` order. */
  readonly events: readonly DeltaEvent[];
  /** Its commit marker. */
  readonly marker: TxMarkerEvent;
}

/** The options of a consumer, as written by the user (every default documented in docs/consumers.md). */
export interface ConsumerOptions<
  F extends 'facts' | 'deltas' = 'facts' | 'deltas',
  S extends StartAt = StartAt,
> {
  /** Durable name: letters, digits, `_` and `-` (at most 64). */
  name: string;
  /** The facts stream (latest state) or the deltas stream (every change). */
  from: F;
  /** Tables as `schema.table`. Default: every table. */
  tables?: readonly string[];
  /** Delta operations to receive (deltas only). Default: all. */
  ops?: readonly Op[];
  /** Handles one event; returning means done, throwing means failed (retried, then dead-lettered). */
  handle?: (event: HandledEvent<F, S>, ctx: ConsumerContext) => Promise<void> | void;
  /**
   * Handles one whole source transaction (deltas only), in commit order; instead of `handle`.
   * Receives the transaction's events (selected tables and ops) in `tx.seq` order.
   */
  handleTransaction?: (
    events: readonly DeltaEvent[],
    ctx: ConsumerContext & { transaction: SourceTransaction },
  ) => Promise<void> | void;
  /** Keys (entities) handled at the same time. Default 16. */
  concurrency?: number;
  /** Deliveries of one event before it goes to the dead-letter stream. Default 5. */
  maxDeliver?: number;
  /** Delay before each retry: a list of ms (the last repeats) or `{ initial, max, multiplier }`. Default exponential 1 s … 60 s, ×2. */
  backoff?: Backoff;
  /** Messages requested from the server per pull. Default 100. */
  batch?: number;
  /** Milliseconds the server waits for an ack before redelivering (the runtime extends it while an event waits). Default 30000. */
  ackWait?: number;
  /** Messages delivered and not yet acknowledged, at most (the server's max_ack_pending). Default max(1000, 4 × concurrency). */
  maxAckPending?: number;
  /**
   * Where a new consumer starts: the first message (`beginning`, default), new messages only
   * (`now`), or (deltas only) the facts of the selected tables first and then the deltas after
   * the position the facts reflect (`facts`; the handler then gets FactEvents, then DeltaEvents).
   */
  start?: S;
}

/** A validated consumer definition: every default filled in, frozen. */
export interface ConsumerDefinition<F extends 'facts' | 'deltas' = 'facts' | 'deltas'> {
  readonly kind: 'sluice.consumer';
  readonly name: string;
  readonly from: F;
  readonly tables: readonly string[];
  readonly ops: readonly Op[];
  readonly handle: ((event: EventOf<F>, ctx: ConsumerContext) => Promise<void> | void) | undefined;
  readonly handleTransaction: ConsumerOptions<F>['handleTransaction'];
  readonly concurrency: number;
  readonly maxDeliver: number;
  readonly backoff: Backoff;
  readonly batch: number;
  readonly ackWait: number;
  readonly maxAckPending: number;
  readonly start: 'beginning' | 'now' | 'facts';
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const Options = z.object({
  name: z
    .string()
    .regex(NAME, 'expected 1–64 letters, digits, _ or - (it is a durable name and a subject token)'),
  from: z.enum(['facts', 'deltas']),
  tables: z.array(z.string().regex(/^[^.\s]+\.[^.\s]+$/, 'expected schema.table')).default([]),
  ops: z.array(z.enum(['insert', 'update', 'delete', 'truncate'])).default([]),
  handle: z.function().optional(),
  handleTransaction: z.function().optional(),
  concurrency: z.number().int().min(1).max(10_000).default(16),
  maxDeliver: z.number().int().min(1).max(1000).default(5),
  backoff: z
    .custom<Backoff>((b) => backoffProblem(b) === null, { message: backoffProblem(null) ?? '' })
    .default(DEFAULT_BACKOFF),
  batch: z.number().int().min(1).max(10_000).default(100),
  ackWait: z
    .number()
    .int()
    .min(1000)
    .max(24 * 3600_000)
    .default(30_000),
  maxAckPending: z.number().int().min(1).max(1_000_000).optional(),
  start: z.enum(['beginning', 'now', 'facts']).default('beginning'),
});

/** Declares a consumer; the module's default export. Throws a ConsumerError for a bad option. */
export function defineConsumer<F extends 'facts' | 'deltas', S extends StartAt = 'beginning'>(
  options: ConsumerOptions<F, S>,
): ConsumerDefinition<F> {
  const r = Options.strict().safeParse(options);
  const who = typeof options?.name === 'string' ? `consumer ${options.name}` : 'consumer';
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.join('.') || '(definition)';
    const msg =
      issue.code === 'unrecognized_keys'
        ? `unknown option ${issue.keys.join(', ')}`
        : `${path}: ${issue.message}`;
    throw new ConsumerError(ConsumerErrorCodes.config, `${who}: ${msg}.`, {
      hint: 'See docs/consumers.md for the options and their defaults.',
    });
  }
  const o = r.data;
  const fail = (m: string, hint: string) => {
    throw new ConsumerError(ConsumerErrorCodes.config, `${who}: ${m}.`, { hint });
  };
  if (!o.handle === !o.handleTransaction) {
    fail(
      'give exactly one of handle and handleTransaction',
      'handle(event, ctx) takes one event, handleTransaction(events, ctx) a whole transaction.',
    );
  }
  if (o.from === 'facts' && o.ops.length)
    fail('ops applies to deltas only', 'Remove ops or read from: "deltas".');
  if (o.handleTransaction && o.ops.length) {
    fail(
      'handleTransaction takes whole transactions, so ops cannot narrow them',
      'Remove ops and pick the events inside the handler.',
    );
  }
  if (o.handleTransaction && o.from !== 'deltas')
    fail(
      'handleTransaction needs from: "deltas"',
      'Transactions are assembled from deltas and commit markers.',
    );
  if (o.start === 'facts' && o.handleTransaction) {
    fail(
      'start: "facts" cannot be combined with handleTransaction',
      'Facts are not transactions: use handle(event, ctx), or start "beginning".',
    );
  }
  if (o.start === 'facts' && o.from !== 'deltas')
    fail(
      'start: "facts" needs from: "deltas"',
      'A facts consumer starts at the beginning of the facts stream anyway.',
    );
  return Object.freeze({
    kind: 'sluice.consumer' as const,
    name: o.name,
    from: o.from as F,
    tables: Object.freeze([...o.tables]),
    ops: Object.freeze([...o.ops]),
    // With start 'facts' the handler also takes facts; the runtime calls it with what it reads.
    handle: options.handle as ConsumerDefinition<F>['handle'],
    handleTransaction: options.handleTransaction,
    concurrency: o.concurrency,
    maxDeliver: o.maxDeliver,
    backoff: o.backoff,
    batch: o.batch,
    ackWait: o.ackWait,
    maxAckPending: o.maxAckPending ?? Math.max(1000, 4 * o.concurrency),
    start: o.start,
  });
}

/** Whether a module export is a consumer definition. */
export function isConsumerDefinition(x: unknown): x is ConsumerDefinition {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'sluice.consumer';
}
