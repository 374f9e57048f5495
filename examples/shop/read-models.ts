/**
 * The shop's read models (see docs/read-models.md): plain SQL over the shop's own tables, as a
 * user would write them in `readModels:` of the config. Tests and the demo use these definitions.
 */

/** A read model as written in the config: a name, the key output columns and the SELECT. */
export interface ShopReadModel {
  readonly name: string;
  readonly key: readonly string[];
  readonly sql: string;
}

/** Order + customer name and email + line items with product names + totals + status. */
export const orderSummary: ShopReadModel = {
  name: 'order_summary',
  key: ['order_id'],
  sql: `SELECT o.id AS order_id, o.status, o.total, o.placed_at,
       c.name AS customer_name, c.email AS customer_email,
       count(i.line_no) AS item_count,
       coalesce(sum(i.quantity), 0) AS units,
       coalesce(sum(i.quantity * i.unit_price), 0) AS items_total,
       jsonb_agg(jsonb_build_object('line', i.line_no, 'product', p.name, 'quantity', i.quantity,
                                    'unit_price', i.unit_price) ORDER BY i.line_no)
         FILTER (WHERE i.line_no IS NOT NULL) AS items
FROM orders o
JOIN customers c ON c.id = o.customer_id
LEFT JOIN order_items i ON i.order_id = o.id
LEFT JOIN products p ON p.id = i.product_id
GROUP BY o.id, c.id`,
};

/** Customer + order count + lifetime value (orders not cancelled) + last order. */
export const customer360: ShopReadModel = {
  name: 'customer_360',
  key: ['customer_id'],
  sql: `SELECT c.id AS customer_id, c.name, c.email,
       count(o.id) AS order_count,
       coalesce(sum(o.total) FILTER (WHERE o.status <> 'cancelled'), 0) AS lifetime_value,
       max(o.placed_at) AS last_order_at
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
GROUP BY c.id`,
};

/** Product + inventory + units sold. */
export const productStock: ShopReadModel = {
  name: 'product_stock',
  key: ['product_id'],
  sql: `SELECT p.id AS product_id, p.sku, p.name, p.price, inv.quantity AS in_stock,
       coalesce(sum(i.quantity), 0) AS units_sold
FROM products p
LEFT JOIN inventory inv ON inv.product_id = p.id
LEFT JOIN order_items i ON i.product_id = p.id
GROUP BY p.id, inv.product_id`,
};

export const shopReadModels: readonly ShopReadModel[] = [orderSummary, customer360, productStock];
