/**
 * Integration events, published by enrichers (consumers/enrichers/): the CloudEvents envelope, the
 * subject `<P>.events.<domain>.<type>` in `<P>_EVENTS`, the URN of each contract version, and the
 * contracts as JSON Schema. The connector publishes the outbox's domain events on
 * `<P>.events.<type>` in the same stream, so an enricher's domain must not be the first token of
 * any outbox event type (docs/enrichers.md).
 */
import { z } from 'zod';

/** One subject token: what a domain may be. */
export const DOMAIN = /^[A-Za-z0-9_-]{1,64}$/;

/** `<P>.events.<domain>.<type>`: the subject integration events of one type are published on. */
export function integrationEventSubject(prefix: string, domain: string, type: string): string {
  return `${prefix}.events.${domain}.${type}`;
}

/** `urn:sluice:contract:<domain>.<type>:v<version>`: the `dataschema` of an integration event. */
export function contractUrn(domain: string, type: string, version: number): string {
  return `urn:sluice:contract:${domain}.${type}:v${version}`;
}

/** The envelope of an integration event (CloudEvents 1.0, structured JSON); `data` follows its contract. */
export const IntegrationEvent = z.object({
  specversion: z.literal('1.0'),
  /** `<enricher>:<source event id>:<type>[:<n>]`, also the `Nats-Msg-Id`: a replay publishes nothing twice. */
  id: z.string().min(1),
  /** `sluice/enricher/<enricher name>`. */
  source: z.string().min(1),
  /** `<domain>.<type>`, e.g. `shop.order.placed`. */
  type: z.string().min(1),
  /** Commit time of the source transaction. */
  time: z.string(),
  /** The entity the event is about (e.g. the order id), when the enricher names one. */
  subject: z.string().optional(),
  /** {@link contractUrn}: the contract and its version. */
  dataschema: z.string(),
  datacontenttype: z.literal('application/json'),
  /** The contract version (CloudEvents extension attribute). */
  dataversion: z.number().int().positive(),
  /** The id of the delta the event was derived from (extension attribute). */
  sourceevent: z.string(),
  /** The source position (version) of that delta (extension attribute). */
  sourceversion: z.string(),
  data: z.unknown(),
});
export type IntegrationEvent = z.infer<typeof IntegrationEvent>;

/** Anything zod 4 can turn into JSON Schema. */
type ZodSchema = z.ZodType;

/**
 * The contracts of one domain and version as JSON Schema (draft 2020-12), keyed by the full type
 * (`shop.order.placed`); each carries its URN as `$id`. Fails for a schema JSON Schema cannot
 * express (a transform, a custom check), naming the type.
 */
export function contractJsonSchemas(
  domain: string,
  version: number,
  contracts: Readonly<Record<string, ZodSchema>>,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [type, schema] of Object.entries(contracts)) {
    let json: Record<string, unknown>;
    try {
      json = z.toJSONSchema(schema) as Record<string, unknown>;
    } catch (cause) {
      throw new TypeError(
        `the contract of ${domain}.${type} cannot be expressed as JSON Schema (${(cause as Error).message}); use plain zod types without transforms or refinements`,
        { cause },
      );
    }
    out[`${domain}.${type}`] = {
      $id: contractUrn(domain, type, version),
      title: `${domain}.${type} v${version}`,
      ...json,
    };
  }
  return out;
}
