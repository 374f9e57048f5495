/**
 * An application writing the shop database and emitting a domain event with it, the way a user's
 * code would: the order, its items and the `order.placed` event commit together (or not at all),
 * and the request's context (user, request id, trace id) lands on every event of the transaction.
 */
import type pg from 'pg';
import { emit, withContext } from 'sluice/client';
import type { OrderPlaced } from './contracts.js';

export interface OrderLine {
  productId: string;
  quantity: number;
  /** Decimal text, e.g. "12.50". */
  unitPrice: string;
}

/** Who is asking, from the incoming request (any small JSON). */
export interface RequestContext {
  userId: string;
  requestId: string;
  /** The W3C traceparent's trace id of the request. */
  traceId: string;
}

/** Places an order: rows and the domain event in one transaction. Returns the order id. */
export async function placeOrder(
  client: pg.ClientBase,
  customerId: string,
  lines: readonly OrderLine[],
  ctx: RequestContext,
): Promise<string> {
  return withContext(client, { ...ctx }, async (tx) => {
    const order = await tx.query<{ id: string; total: string }>(
      `INSERT INTO public.orders (customer_id, total)
       SELECT $1, coalesce(sum(q * p), 0)::numeric(14, 2)
       FROM unnest($2::int[], $3::numeric[]) AS l(q, p)
       RETURNING id::text, total::text`,
      [customerId, lines.map((l) => l.quantity), lines.map((l) => l.unitPrice)],
    );
    const { id, total } = order.rows[0]!;
    for (const [i, l] of lines.entries()) {
      await tx.query(
        'INSERT INTO public.order_items (order_id, line_no, product_id, quantity, unit_price) VALUES ($1, $2, $3, $4, $5)',
        [id, i + 1, l.productId, l.quantity, l.unitPrice],
      );
    }
    const event: OrderPlaced = { orderId: id, customerId, total, items: [...lines] };
    await emit(tx, 'order.placed', id, event);
    return id;
  });
}
