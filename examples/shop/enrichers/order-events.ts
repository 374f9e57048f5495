/**
 * The shop's integration events: order status changes become `shop.order.placed|paid|shipped|
 * cancelled` v1 events carrying the customer and the line items with product names, looked up in
 * the facts (never in the shop's database). Run it:
 * sluice consumers run examples/shop/enrichers/order-events.ts (see docs/enrichers.md).
 */
import { z } from 'zod';
import { defineEnricher, type FactLookup } from 'sluice/consumers';

const OrderEventV1 = z.object({
  orderId: z.string(),
  status: z.enum(['pending', 'paid', 'shipped', 'cancelled']),
  /** Exact decimal, as PostgreSQL prints numeric. */
  total: z.string().regex(/^-?\d+(\.\d+)?$/),
  placedAt: z.string(),
  customer: z.object({ id: z.string(), name: z.string(), email: z.string() }),
  items: z
    .array(
      z.object({
        lineNo: z.number().int().positive(),
        productId: z.uuid(),
        sku: z.string(),
        productName: z.string(),
        quantity: z.number().int().positive(),
        unitPrice: z.string(),
      }),
    )
    .min(1),
});
export type OrderEventV1 = z.infer<typeof OrderEventV1>;

/** Status (after the change) → event type. `delivered` is not published. */
const TYPES = {
  pending: 'order.placed',
  paid: 'order.paid',
  shipped: 'order.shipped',
  cancelled: 'order.cancelled',
} as const;

/** Line numbers are 1…n: read them in batches until one is missing. */
const LINE_BATCH = 8;

async function orderItems(facts: FactLookup, orderId: string) {
  const items: Record<string, unknown>[] = [];
  for (let from = 1; ; from += LINE_BATCH) {
    const keys = Array.from({ length: LINE_BATCH }, (_, i) => ({ order_id: orderId, line_no: from + i }));
    const found = await facts.get('public.order_items', keys);
    // A deleted item (its order was cancelled and deleted since) is read from its tombstone.
    for (const f of found) if (f?.row) items.push(f.row);
    if (found.some((f) => f === null)) return items;
  }
}

export default defineEnricher({
  name: 'shop-order-events',
  domain: 'shop',
  version: 1,
  // order_items too: the lookups then wait until the facts hold the items of the same transaction.
  tables: ['public.orders', 'public.order_items'],
  ops: ['insert', 'update'],
  contracts: {
    'order.placed': OrderEventV1,
    'order.paid': OrderEventV1,
    'order.shipped': OrderEventV1,
    'order.cancelled': OrderEventV1,
  },
  async enrich(delta, { facts }) {
    if (delta.data.table !== 'public.orders') return null;
    const status =
      delta.data.op === 'insert' ? 'pending' : (delta.data.changes.status?.new as string | undefined);
    if (delta.data.op === 'update' && status === delta.data.changes.status?.old) return null;
    const type = TYPES[status as keyof typeof TYPES];
    if (!type) return null;
    const orderId = String(delta.data.key!.id);
    // facts.get, not facts.rows: the lookups see current state, and an order (its items, its
    // customer) deleted since this change is still described by its tombstone's last row.
    const order = (await facts.get('public.orders', [{ id: orderId }]))[0]?.row;
    if (!order) throw new Error(`order ${orderId} has no fact yet`);
    const customer = (await facts.get('public.customers', [{ id: String(order.customer_id) }]))[0]?.row;
    const items = await orderItems(facts, orderId);
    // The snapshot of a freshly started connector may not have published them yet: retried.
    if (!customer || !items.length)
      throw new Error(`order ${orderId}: customer or items not in the facts yet`);
    const products = (
      await facts.get(
        'public.products',
        items.map((i) => ({ id: String(i.product_id) })),
      )
    ).map((f) => f?.row ?? null);
    return {
      type,
      subject: orderId,
      data: {
        orderId,
        status,
        total: String(order.total),
        placedAt: String(order.placed_at),
        customer: { id: String(customer.id), name: String(customer.name), email: String(customer.email) },
        items: items.map((i, n) => ({
          lineNo: Number(i.line_no),
          productId: String(i.product_id),
          sku: String(products[n]?.sku ?? ''),
          productName: String(products[n]?.name ?? ''),
          quantity: Number(i.quantity),
          unitPrice: String(i.unit_price),
        })),
      },
    };
  },
});
