/**
 * `defineProjection({ name, tables, key, evolve })`: event-sourcing style projections (Emmett's
 * `evolve(state, event)`). Each document is the fold of the events of its key, kept as JSON in the
 * read database's `projections.<name>`, written in one transaction with the projection's position
 * and a version guard per source entity, so redelivery and replay change nothing (effectively once).
 *
 * Events are handled one at a time (concurrency 1): a document may gather events of many entities
 * (a customer's orders), and only the stream order keeps their fold in commit order.
 */
import type { ConsumerDefinition, EventOf } from './define-consumer.js';
import { defineConsumer } from './define-consumer.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import { ProjectionStore } from './projection-store.js';

export interface ProjectionOptions<F extends 'facts' | 'deltas', D> {
  /** Projection name: the consumer's durable name and the table `projections.<name>`. */
  name: string;
  /** PostgreSQL URL of the read database. Required. */
  database: string;
  /** `deltas` (default: every change, in commit order) or `facts` (latest row states). */
  from?: F;
  /** Tables as `schema.table`. Default: every table. */
  tables?: readonly string[];
  /** The document an event belongs to; null or undefined skips the event. */
  key: (event: EventOf<F>) => string | number | null | undefined;
  /** The next state of the document (null for none yet); return null to delete it. */
  evolve: (doc: D | null, event: EventOf<F>) => D | null | Promise<D | null>;
  maxDeliver?: number;
}

export function defineProjection<D, F extends 'facts' | 'deltas' = 'deltas'>(
  opts: ProjectionOptions<F, D>,
): ConsumerDefinition<F> {
  if (typeof opts.database !== 'string' || !/^postgres(ql)?:\/\//.test(opts.database)) {
    throw new ConsumerError(
      ConsumerErrorCodes.config,
      `projection ${opts.name}: database: expected postgres://user:password@host:port/database.`,
      {
        hint: 'Pass the read database URL, e.g. database: process.env.READ_DATABASE_URL.',
      },
    );
  }
  let store: ProjectionStore | undefined;
  return defineConsumer<F, 'beginning'>({
    name: opts.name,
    from: (opts.from ?? 'deltas') as F,
    ...(opts.tables ? { tables: opts.tables } : {}),
    ...(opts.maxDeliver ? { maxDeliver: opts.maxDeliver } : {}),
    concurrency: 1,
    async handle(event, ctx) {
      const k = opts.key(event);
      if (k === null || k === undefined) return;
      store ??= new ProjectionStore(opts.database, opts.name);
      const entity = `${event.data.table}/${JSON.stringify(event.data.key)}`;
      const r = await store.apply(String(k), entity, event.data.version, ctx.position, (doc) =>
        opts.evolve(doc as D | null, event),
      );
      if (r === 'stale') ctx.log.debug({ key: k }, 'event already in the document; skipped');
    },
  });
}
