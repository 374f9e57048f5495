/**
 * Payload contracts of the shop's domain events, for the connector:
 * SLUICE_OUTBOX_CONTRACTS=examples/shop/outbox/contracts.ts (see docs/events.md).
 * A payload that breaks its contract is dead-lettered on <prefix>.dlq.connector.outbox.
 */
import { z } from 'zod';
import { defineEventContracts } from 'sluice/schemas';

export const OrderPlaced = z.object({
  orderId: z.string(),
  customerId: z.string(),
  /** Exact decimal, as PostgreSQL prints numeric. */
  total: z.string().regex(/^\d+\.\d{2}$/),
  items: z
    .array(z.object({ productId: z.uuid(), quantity: z.number().int().positive(), unitPrice: z.string() }))
    .min(1),
});
export type OrderPlaced = z.infer<typeof OrderPlaced>;

export default defineEventContracts({ 'order.placed': OrderPlaced });
