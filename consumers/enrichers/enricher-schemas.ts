/** The contracts of enrichers as JSON Schema, for `sluice schemas export` and for event consumers. */
import { contractJsonSchemas } from '../../schemas/integration-events.js';
import type { EnricherDefinition } from './define-enricher.js';

/**
 * Every contract of the enrichers as JSON Schema, keyed by full type and version (`shop.order.placed.v1`), each
 * with `$id` `urn:sluice:contract:<domain>.<type>:v<version>`. Two enrichers that define the same
 * type in the same version fail: one type and version has one contract.
 */
export function enricherJsonSchemas(
  enrichers: readonly EnricherDefinition[],
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const owner = new Map<string, string>();
  for (const e of enrichers) {
    const { domain, version, contracts } = e.enricher;
    for (const [fullType, schema] of Object.entries(contractJsonSchemas(domain, version, contracts))) {
      // Two versions of a type are two contracts (run side by side while consumers move).
      const type = `${fullType}.v${version}`;
      if (owner.has(type)) {
        throw new TypeError(
          `enrichers ${owner.get(type)} and ${e.name} both define ${type}; give one of them another domain or type`,
        );
      }
      owner.set(type, e.name);
      out[type] = schema;
    }
  }
  return out;
}
