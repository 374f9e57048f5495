/**
 * `defineEnricher({...})`: row changes → integration events. An enricher is a consumer of the
 * deltas stream (built on defineConsumer, run by `sluice consumers run`) that handles whole source
 * transactions, looks related rows up in the facts (ctx.facts, never the source database), and
 * publishes versioned integration events, each validated against its zod contract, on
 * `<P>.events.<domain>.<type>` in `<P>_EVENTS`. See docs/enrichers.md.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { DeltaEvent } from '../../schemas/events.js';
import {
  contractUrn,
  DOMAIN,
  integrationEventSubject,
  type IntegrationEvent,
} from '../../schemas/integration-events.js';
import { EVENT_TYPE } from '../../schemas/outbox.js';
import type { Backoff } from '../runtime/backoff.js';
import { defineConsumer, type ConsumerContext, type ConsumerDefinition } from '../runtime/define-consumer.js';
import { ConsumerError, ConsumerErrorCodes } from '../runtime/errors.js';
import type { FactLookup } from '../runtime/fact-lookup.js';
import { waitForFacts } from './facts-freshness.js';
import { ReadModelLookups, type ReadModelLookup } from './read-model-lookup.js';

/** What `enrich` returns for one delta: zero or more events (`type` is one of the contracts). */
export interface EventDraft<T extends string = string> {
  /** The event type without the domain, e.g. `order.placed`. */
  readonly type: T;
  /** The payload; it must satisfy the type's contract. */
  readonly data: unknown;
  /** The entity the event is about (CloudEvents `subject`), e.g. the order id. */
  readonly subject?: string;
}

/** What `enrich` gets besides the delta. */
export interface EnrichContext {
  /** Related rows by key from `<P>_FACTS`: at least as new as this transaction (see docs/enrichers.md). */
  readonly facts: FactLookup;
  /**
   * Rows of the read models (docs/read-models.md) by key or by equal columns, once the model
   * reflects this transaction (a read-your-writes fence at its commit). Needs the read database:
   * option `readModels.databaseUrl` or SLUICE_READ_DATABASE_URL.
   */
  readonly readModels: ReadModelLookup;
  /** Every delta of the source transaction of the selected tables, in `tx.seq` order. */
  readonly transaction: readonly DeltaEvent[];
  readonly log: Logger;
}

export interface EnricherOptions<C extends Record<string, z.ZodType>> {
  /** Durable consumer name (1–64 of `[A-Za-z0-9_-]`); also part of every event id. */
  name: string;
  /** Subject token of the events: `<P>.events.<domain>.<type>`. Must not start any outbox event type. */
  domain: string;
  /** Contract version of every type, stamped as `dataversion` and in `dataschema`. Default 1. */
  version?: number;
  /** Tables whose deltas are enriched, as `schema.table`. */
  tables: readonly string[];
  /** Delta operations handed to `enrich`. Default: all. */
  ops?: readonly ('insert' | 'update' | 'delete' | 'truncate')[];
  /** The contract (zod schema of `data`) of each event type, keyed by type (`order.placed`). */
  contracts: C;
  /** Turns one delta into integration events (or none). Throwing retries the transaction. */
  enrich: (delta: DeltaEvent, ctx: EnrichContext) => Promise<EnricherResult<C>> | EnricherResult<C>;
  /** Milliseconds to wait for the facts to reflect a transaction before retrying it. Default 10000. */
  factsWaitMs?: number;
  /**
   * Where `ctx.readModels` reads: the read database (default SLUICE_READ_DATABASE_URL), the models'
   * schema (default SLUICE_READ_MODELS_SCHEMA or `read_models`), and how long a lookup waits for a
   * model to reflect the transaction (default `factsWaitMs`).
   */
  readModels?: { databaseUrl?: string; schema?: string; waitMs?: number };
  /** Passed to defineConsumer (docs/consumers.md). */
  maxDeliver?: number;
  backoff?: Backoff;
  ackWait?: number;
  maxAckPending?: number;
  start?: 'beginning' | 'now';
}

type EnricherResult<C> =
  | EventDraft<Extract<keyof C, string>>
  | readonly EventDraft<Extract<keyof C, string>>[]
  | null
  | undefined
  | void;

/** An enricher: a consumer definition that also carries its contracts (for JSON Schema export). */
export type EnricherDefinition = ConsumerDefinition<'deltas'> & {
  readonly enricher: {
    readonly domain: string;
    readonly version: number;
    readonly contracts: Readonly<Record<string, z.ZodType>>;
  };
};

/** Declares an enricher; a module's default export for `sluice consumers run`. */
export function defineEnricher<C extends Record<string, z.ZodType>>(
  options: EnricherOptions<C>,
): EnricherDefinition {
  const who = `enricher ${String(options?.name)}`;
  const fail = (m: string, hint: string): never => {
    throw new ConsumerError(ConsumerErrorCodes.config, `${who}: ${m}.`, { hint });
  };
  if (typeof options.domain !== 'string' || !DOMAIN.test(options.domain))
    fail(
      `domain "${String(options.domain)}" is not one subject token`,
      'Use 1–64 letters, digits, _ or -, e.g. "shop".',
    );
  const version = options.version ?? 1;
  if (!Number.isInteger(version) || version < 1)
    fail(`version ${String(version)} is not a positive integer`, 'Number contract versions 1, 2, …');
  const types = Object.keys(options.contracts ?? {});
  if (!types.length) fail('no contracts', "Give contracts: { 'order.placed': z.object({ … }) }.");
  for (const t of types) {
    if (!EVENT_TYPE.test(t))
      fail(`event type "${t}" is not dot-separated tokens of [A-Za-z0-9_-]`, 'E.g. "order.placed".');
    if (typeof options.contracts[t]?.safeParse !== 'function')
      fail(`the contract of "${t}" is not a zod schema`, 'Give a zod schema of the event data.');
  }
  if (typeof options.enrich !== 'function')
    fail('enrich is missing', 'Give enrich(delta, ctx) returning the events.');
  if (!options.tables?.length)
    fail('tables is empty', "Name the tables whose changes become events, e.g. ['public.orders'].");
  const ops = new Set(options.ops ?? ['insert', 'update', 'delete', 'truncate']);
  const factsWaitMs = options.factsWaitMs ?? 10_000;
  const { domain, contracts, name } = options;
  const rm = options.readModels ?? {};
  const readDatabaseUrl = rm.databaseUrl ?? process.env.SLUICE_READ_DATABASE_URL;
  // One pool and position watcher per enricher, opened at the first lookup.
  let lookups: ReadModelLookups | undefined;
  const readModelsAt = (ctx: ConsumerContext, commitLsn: string): ReadModelLookup => {
    if (!readDatabaseUrl) {
      const missing = (): never =>
        fail(
          'ctx.readModels needs the read database',
          'Set SLUICE_READ_DATABASE_URL (the database "sluice read-models run" writes) or the option readModels.databaseUrl.',
        );
      return { get: async () => missing(), list: async () => missing() };
    }
    lookups ??= new ReadModelLookups({
      databaseUrl: readDatabaseUrl,
      schema: rm.schema ?? process.env.SLUICE_READ_MODELS_SCHEMA ?? 'read_models',
      waitMs: rm.waitMs ?? factsWaitMs,
      requestHeartbeat: () => ctx.requestHeartbeat(),
    });
    return lookups.at(commitLsn, ctx.signal);
  };

  const consumer = defineConsumer({
    name,
    from: 'deltas',
    tables: options.tables,
    ...(options.maxDeliver !== undefined ? { maxDeliver: options.maxDeliver } : {}),
    backoff: options.backoff ?? [500, 1000, 5000, 30_000],
    ...(options.ackWait !== undefined ? { ackWait: options.ackWait } : {}),
    ...(options.maxAckPending !== undefined ? { maxAckPending: options.maxAckPending } : {}),
    start: options.start ?? 'beginning',
    async handleTransaction(events, ctx) {
      const selected = events.filter((e) => ops.has(e.data.op));
      if (!selected.length) return;
      await waitForFacts(ctx.facts, events, factsWaitMs, ctx.signal);
      let readModels: ReadModelLookup | undefined;
      const enrichCtx: EnrichContext = {
        facts: ctx.facts,
        get readModels() {
          return (readModels ??= readModelsAt(ctx, ctx.transaction.marker.data.lsn));
        },
        transaction: events,
        log: ctx.log,
      };
      for (const delta of selected) {
        const out = await options.enrich(delta, enrichCtx);
        const drafts = (out == null ? [] : Array.isArray(out) ? out : [out]) as EventDraft[];
        const seen = new Map<string, number>();
        // Validate all before publishing any: a broken payload publishes nothing of this delta.
        const envelopes = drafts.map((d) => {
          const n = seen.get(d.type) ?? 0;
          seen.set(d.type, n + 1);
          return envelope(name, domain, version, contracts, delta, d, n);
        });
        for (const [i, env] of envelopes.entries())
          await publishOnce(ctx, integrationEventSubject(ctx.prefix, domain, drafts[i]!.type), env);
      }
    },
  });
  return Object.freeze({
    ...consumer,
    enricher: Object.freeze({ domain, version, contracts: Object.freeze({ ...contracts }) }),
  });
}

/** The envelope of one event, after checking its data against the contract. */
export function envelope(
  enricher: string,
  domain: string,
  version: number,
  contracts: Readonly<Record<string, z.ZodType>>,
  delta: DeltaEvent,
  draft: EventDraft,
  index: number,
): IntegrationEvent & { type: string } {
  const contract = contracts[draft.type];
  if (!contract) {
    throw new ConsumerError(
      ConsumerErrorCodes.config,
      `enricher ${enricher}: enrich returned type "${draft.type}", which has no contract.`,
      { hint: `Add it to contracts or return one of: ${Object.keys(contracts).join(', ')}.` },
    );
  }
  const r = contract.safeParse(draft.data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConsumerError(
      ConsumerErrorCodes.config,
      `enricher ${enricher}: the ${domain}.${draft.type} event of ${delta.id} breaks its contract at ${issue.path.join('.') || '(data)'}: ${issue.message}.`,
      { hint: 'Fix enrich (the transaction is retried, then dead-lettered) or the contract.' },
    );
  }
  return {
    specversion: '1.0',
    // Derived from the source delta only: a redelivery or a replay computes the same id.
    id: `${enricher}:${delta.id}:${draft.type}${index ? `:${index}` : ''}`,
    source: `sluice/enricher/${enricher}`,
    type: `${domain}.${draft.type}`,
    time: delta.time,
    ...(draft.subject !== undefined ? { subject: draft.subject } : {}),
    dataschema: contractUrn(domain, draft.type, version),
    datacontenttype: 'application/json',
    dataversion: version,
    sourceevent: delta.id,
    sourceversion: delta.data.version,
    data: r.data,
  };
}

/**
 * Publishes once: the `Nats-Msg-Id` is the event id (the stream drops a duplicate within its
 * duplicate window), and `ctx.once` records it in `<P>_PROCESSED` (7 days), so a replay after
 * the window publishes nothing either.
 */
async function publishOnce(ctx: ConsumerContext, subject: string, env: IntegrationEvent): Promise<void> {
  await ctx.once(env.id, () => ctx.publish(subject, env, { id: env.id }));
}

/** Whether a module export is an enricher. */
export function isEnricherDefinition(x: unknown): x is EnricherDefinition {
  return typeof x === 'object' && x !== null && typeof (x as { enricher?: unknown }).enricher === 'object';
}
