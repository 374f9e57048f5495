/**
 * `sluice/consumers`: what consumer modules import. See docs/consumers.md.
 */
export { fetchLargeEvent } from './large-events.js';
export { defineConsumer, isConsumerDefinition } from './runtime/define-consumer.js';
export type {
  ConsumerContext,
  ConsumerDefinition,
  ConsumerOptions,
  EventOf,
  EventPosition,
  HandledEvent,
  StartAt,
  PublishOptions,
  RawMessage,
  SourceTransaction,
} from './runtime/define-consumer.js';
export { DEFAULT_BACKOFF, type Backoff, type ExponentialBackoff } from './runtime/backoff.js';
export { ConsumerError, ConsumerErrorCodes, type ConsumerErrorCode } from './runtime/errors.js';
export type { DeadLetter, DeadLetterEntry } from './runtime/dead-letters.js';
export { isNewer, upsertIfNewer, type Queryable } from './runtime/idempotency.js';
export { defineProjection, type ProjectionOptions } from './runtime/define-projection.js';
export type { DeltaEvent, FactEvent, TxMarkerEvent } from '../schemas/events.js';
export * from './read-models/index.js';
export * from './query-api/index.js';
export type { FactLookup, KeyInput } from './runtime/fact-lookup.js';
export {
  defineEnricher,
  isEnricherDefinition,
  type EnrichContext,
  type EnricherDefinition,
  type EnricherOptions,
  type EventDraft,
} from './enrichers/define-enricher.js';
export { enricherJsonSchemas } from './enrichers/enricher-schemas.js';
