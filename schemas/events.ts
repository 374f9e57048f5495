/**
 * The event contract as zod schemas: the CloudEvents 1.0 envelope and the `data` of facts, deltas
 * and transaction commit markers. Consumers validate with these; the connector serializes the same
 * shape by hand on its hot path (connector/events/change-processor.ts) and tests check both agree.
 */
import { z } from 'zod';
import { ColumnShape } from './registry.js';

/** CloudEvents `type` of each kind of event. */
export const EventTypes = {
  fact: 'io.sluice.fact',
  delta: 'io.sluice.delta',
  tx: 'io.sluice.tx',
  schema: 'io.sluice.schema',
  heartbeat: 'io.sluice.heartbeat',
} as const;

const version = z.string().regex(/^[0-9a-f]{16}-[0-9a-f]{8}$/);

/**
 * Application context (user, request, trace id…) of the source transaction, from its
 * `sluice.context` message (see schemas/outbox.ts): `data.context` of facts, deltas and domain events.
 */
export const EventContext = z.record(z.string(), z.unknown());
export type EventContext = z.infer<typeof EventContext>;

/** Transaction coordinates carried by every fact and delta. */
export const TxInfo = z.object({
  id: z.number().int(),
  lsn: z.string(),
  commitTime: z.string(),
  seq: z.number().int().nonnegative(),
});

/**
 * Where the whole event is stored when it was larger than the server's max_payload: the published
 * event then has `row: null` / `changes: {}` and this reference (see docs/operations.md).
 */
export const DataRef = z.object({ store: z.string(), name: z.string(), bytes: z.number().int().positive() });

/** `data` of a fact: the row's full state after the change. */
export const FactData = z.object({
  table: z.string(),
  key: z.record(z.string(), z.unknown()),
  op: z.enum(['insert', 'update', 'delete', 'snapshot', 'truncate']),
  deleted: z.boolean(),
  row: z.record(z.string(), z.unknown()).nullable(),
  version,
  schemaVersion: z.number().int().positive(),
  tx: TxInfo.nullable(),
  context: EventContext.optional(),
  dataref: DataRef.optional(),
});
export type FactData = z.infer<typeof FactData>;

/** One column's change in a delta. */
export const ColumnChange = z.object({ old: z.unknown().optional(), new: z.unknown().optional() });

/** `data` of a delta: what changed. */
export const DeltaData = z.object({
  table: z.string(),
  key: z.record(z.string(), z.unknown()).nullable(),
  op: z.enum(['insert', 'update', 'delete', 'truncate']),
  changes: z.record(z.string(), ColumnChange),
  version,
  schemaVersion: z.number().int().positive(),
  tx: TxInfo,
  context: EventContext.optional(),
  dataref: DataRef.optional(),
});
export type DeltaData = z.infer<typeof DeltaData>;

/** `data` of a transaction commit marker on `<P>.tx.<txid>`. */
export const TxMarkerData = z.object({
  id: z.number().int(),
  lsn: z.string(),
  commitTime: z.string(),
  version,
  events: z.number().int().nonnegative(),
  tables: z.record(z.string(), z.number().int().nonnegative()),
  /** Domain events of the transaction published in `<P>_EVENTS` (absent when none). */
  outbox: z.number().int().positive().optional(),
});
export type TxMarkerData = z.infer<typeof TxMarkerData>;

/** A column as a schema event and the registry describe it: the registry's {@link ColumnShape}. */
export const SchemaColumn = ColumnShape;

/** One difference from the previous version (see schemas/compatibility.ts). */
export const SchemaChangeItem = z.object({
  kind: z.enum(['added', 'dropped', 'renamed', 'retyped', 'nullability', 'key']),
  column: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  breaking: z.boolean(),
  reason: z.string(),
});

/**
 * `data` of a schema event on `<P>.schema.<schema>.<table>` in the deltas stream: the table's shape
 * took a new schemaVersion at this position (every later event of the table carries it).
 */
export const SchemaEventData = z.object({
  table: z.string(),
  schemaVersion: z.number().int().positive(),
  /** The version in effect before this position; null for a table's first version. */
  previousVersion: z.number().int().positive().nullable(),
  /** `create`: first version; `alter`: columns changed; `rename`: the table was renamed (from `renamedFrom`). */
  change: z.enum(['create', 'alter', 'rename']),
  renamedFrom: z.string().optional(),
  columns: z.array(SchemaColumn),
  key: z.array(z.string()),
  /** Differences from `previousVersion`, each with whether it breaks consumers and why. */
  changes: z.array(SchemaChangeItem),
  compatible: z.boolean(),
  version,
  tx: TxInfo,
});
export type SchemaEventData = z.infer<typeof SchemaEventData>;
/**
 * `data` of a position heartbeat on `<P>.heartbeat`: every source transaction that committed before
 * `lsn` has been published and acknowledged, in both streams. `version` sorts with the versions of
 * every other event (the heartbeat transaction's commit position), so a consumer can use it as a
 * read-your-writes fence on a database whose captured tables are idle.
 */
export const HeartbeatData = z.object({
  /** Commit LSN of the heartbeat transaction, as PostgreSQL prints it (`16/B374D848`). */
  lsn: z.string(),
  commitTime: z.string(),
  version,
});
export type HeartbeatData = z.infer<typeof HeartbeatData>;

/** A CloudEvents 1.0 envelope around `data`. */
export function cloudEvent<T extends z.ZodTypeAny>(data: T) {
  return z.object({
    specversion: z.literal('1.0'),
    id: z.string().min(1),
    source: z.string().min(1),
    type: z.string(),
    time: z.string(),
    subject: z.string().optional(),
    dataschema: z.string().optional(),
    datacontenttype: z.literal('application/json'),
    data,
  });
}

export const FactEvent = cloudEvent(FactData);
export type FactEvent = z.infer<typeof FactEvent>;
export const DeltaEvent = cloudEvent(DeltaData);
export type DeltaEvent = z.infer<typeof DeltaEvent>;
export const TxMarkerEvent = cloudEvent(TxMarkerData);
export type TxMarkerEvent = z.infer<typeof TxMarkerEvent>;
export const SchemaEvent = cloudEvent(SchemaEventData);
export type SchemaEvent = z.infer<typeof SchemaEvent>;
export const HeartbeatEvent = cloudEvent(HeartbeatData);
export type HeartbeatEvent = z.infer<typeof HeartbeatEvent>;

/**
 * The `dataref` of an event body, when it is a reference to an event stored whole elsewhere
 * (larger than the server's max_payload); null for ordinary events.
 */
export function dataRefOf(body: string): z.infer<typeof DataRef> | null {
  if (!body.includes('"dataref":')) return null;
  const e = JSON.parse(body) as { data?: { dataref?: unknown } };
  const ref = DataRef.safeParse(e.data?.dataref);
  return ref.success ? ref.data : null;
}
