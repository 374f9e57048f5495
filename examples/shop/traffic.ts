import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { openClient, redactUrl } from './db.js';
import {
  PAYMENT_METHODS,
  fakeAddress,
  fakeAttributePatch,
  fakeEmail,
  fakeName,
  fakeProductName,
  fakeTags,
} from './fake-data.js';
import { LatencyHistogram } from './latency-histogram.js';
import { formatCents, toCents } from './money.js';
import { Random, mixSeed } from './random.js';

/** The application operations the traffic generator performs, one transaction each. */
export const OP_KINDS = [
  'placeOrder',
  'payOrder',
  'shipOrder',
  'deliverOrder',
  'cancelOrder',
  'deleteOrder',
  'editCustomer',
  'newCustomer',
  'addAddress',
  'deleteAddress',
  'restockProducts',
  'renameProduct',
  'repriceProduct',
  'retagProduct',
] as const;

/** One kind of application operation. */
export type OpKind = (typeof OP_KINDS)[number];

// Relative frequency of each operation (sums to 100). The order lifecycle weights keep the pools of
// pending/paid/shipped/cancelled orders roughly stable: ~80% of placed orders get paid, the rest
// cancelled and later deleted.
const OP_WEIGHTS: Readonly<Record<OpKind, number>> = {
  placeOrder: 20,
  payOrder: 14,
  shipOrder: 11,
  deliverOrder: 10,
  cancelOrder: 4,
  deleteOrder: 3,
  editCustomer: 8,
  newCustomer: 3,
  addAddress: 5,
  deleteAddress: 3,
  restockProducts: 6,
  renameProduct: 4,
  repriceProduct: 4,
  retagProduct: 5,
};

/** How to run {@link runTraffic}. */
export interface TrafficOptions {
  /** Target row changes per second: rows inserted, updated or deleted, over all tables. */
  rate: number;
  /** Run length in seconds (fractions allowed); transactions in flight at the end still finish. */
  durationSec: number;
  /** PRNG seed of the operation sequence. Default 1. */
  seed?: number;
  /** Database connections, each running one transaction at a time. Default 4. */
  concurrency?: number;
  /** Ends the run early; transactions in flight finish first. */
  signal?: AbortSignal;
  /** Called about once a second with the cumulative stats so far. */
  onProgress?: (s: TrafficStats) => void;
}

/** What a traffic run did; counts are cumulative since its start. */
export interface TrafficStats {
  /** Operations (transactions) committed. */
  ops: number;
  /** Rows inserted, updated or deleted by committed operations. */
  changes: number;
  /** Operations that failed for good (after retries); their changes were rolled back. */
  errors: number;
  /** Attempts repeated after a serialization failure or deadlock. */
  retries: number;
  /** Seconds from the first operation's start to the end of the last one. */
  elapsedSec: number;
  /** `changes / elapsedSec`: achieved row changes per second. */
  achievedRate: number;
  /** Committed operations per kind. */
  opsByKind: Record<OpKind, number>;
  /** Per-operation latency in milliseconds, first attempt to commit, retries included. */
  latencyMs: { p50: number; p99: number; p999: number };
}

type OrderState = 'pending' | 'paid' | 'shipped' | 'cancelled';

/** What the application knows about an open order: enough to act on it without reading it first. */
interface OrderRef {
  id: string;
  customerId: string;
  lines: number;
  products: number;
}

/** The application's in-memory view of the rows it can act on. */
interface ShopModel {
  customers: string[];
  addresses: string[];
  products: string[];
  orders: Record<OrderState, OrderRef[]>;
  /** Makes new customers' emails unique across runs: the largest customer id when the run started. */
  runTag: string;
  newCustomers: number;
}

/** One planned operation with its parameters drawn; `run` may be called again on retry. */
interface Op {
  kind: OpKind;
  /** Rows the op is expected to change; paces the schedule until the real count is known. */
  planned: number;
  /** Whether `run` issues several statements that need BEGIN/COMMIT around them. */
  transactional: boolean;
  /** Executes the statements and returns the rows changed. */
  run(db: pg.Client): Promise<number>;
  /** Records the committed outcome in the model. */
  committed(): void;
  /** Returns claimed rows to the model after a failure (the database is unchanged). */
  failed(): void;
}

const MAX_ATTEMPTS = 10;
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/**
 * Runs application-like traffic against a seeded shop: weighted, seeded operations, each one
 * transaction, paced to `rate` row changes per second for `durationSec` seconds.
 */
export async function runTraffic(url: string, opts: TrafficOptions): Promise<TrafficStats> {
  const rate = positive('rate', opts.rate);
  const durationMs = positive('durationSec', opts.durationSec) * 1000;
  const concurrency = opts.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`runTraffic: concurrency must be a positive integer, got ${concurrency}`);
  }
  const signal = opts.signal;

  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < concurrency; i++) clients.push(await openClient(url, 'sluice-shop-traffic'));
    const model = await loadModel(clients[0]!, url);
    const planner = new Planner(new Random(mixSeed(opts.seed ?? 1, 0x7aff1c)), model);

    const opsByKind = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
    const latency = new LatencyHistogram();
    const tally = { ops: 0, changes: 0, errors: 0, retries: 0 };
    const start = performance.now();
    const endAt = start + durationMs;
    let finishedAt = start;
    // Row changes accounted to dispatched ops: planned counts, corrected to real ones on completion.
    // Op n is due at start + scheduled/rate, an absolute time, so a slow op makes the following ones
    // due at once (catch-up) and the schedule never drifts.
    let scheduled = 0;

    const snapshot = (): TrafficStats => {
      const elapsedMs = Math.max(finishedAt, performance.now()) - start;
      return statsOf(tally, opsByKind, latency, Math.max(elapsedMs, 1) / 1000);
    };

    const worker = async (index: number): Promise<void> => {
      while (!signal?.aborted && performance.now() < endAt) {
        const dueAt = start + (scheduled / rate) * 1000;
        if (dueAt >= endAt) return;
        const op = planner.next();
        scheduled += op.planned;
        if (!(await sleepUntil(dueAt, signal))) {
          op.failed();
          return;
        }
        const began = performance.now();
        try {
          const changes = await execute(clients[index]!, op, tally);
          op.committed();
          tally.ops++;
          tally.changes += changes;
          opsByKind[op.kind]++;
          scheduled += changes - op.planned;
          latency.record(performance.now() - began);
        } catch (error) {
          op.failed();
          tally.errors++;
          scheduled -= op.planned;
          if (isConnectionError(error)) {
            const replacement = await reconnect(url, endAt, signal);
            if (!replacement) return;
            clients[index]!.end().catch(() => undefined);
            clients[index] = replacement;
          }
        } finally {
          finishedAt = Math.max(finishedAt, performance.now());
        }
      }
    };

    const progress = opts.onProgress;
    const timer = progress ? setInterval(() => progress(snapshot()), 1000) : undefined;
    try {
      await Promise.all(clients.map((_, i) => worker(i)));
      // The last op may be due well before the end at low rates: the run still lasts durationSec,
      // so achievedRate is measured over the whole window.
      await sleepUntil(endAt, signal);
    } finally {
      clearInterval(timer);
    }
    return snapshot();
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

function statsOf(
  tally: { ops: number; changes: number; errors: number; retries: number },
  opsByKind: Record<OpKind, number>,
  latency: LatencyHistogram,
  elapsedSec: number,
): TrafficStats {
  return {
    ...tally,
    elapsedSec,
    achievedRate: tally.changes / elapsedSec,
    opsByKind: { ...opsByKind },
    latencyMs: {
      p50: latency.percentile(0.5),
      p99: latency.percentile(0.99),
      p999: latency.percentile(0.999),
    },
  };
}

/** Runs one op to commit, retrying serialization failures and deadlocks. Returns rows changed. */
async function execute(db: pg.Client, op: Op, tally: { retries: number }): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (!op.transactional) return await op.run(db);
      await db.query('BEGIN');
      const changes = await op.run(db);
      await db.query('COMMIT');
      return changes;
    } catch (error) {
      if (op.transactional && !isConnectionError(error)) await db.query('ROLLBACK').catch(() => undefined);
      if (attempt < MAX_ATTEMPTS && RETRYABLE.has(sqlState(error) ?? '')) {
        tally.retries++;
        continue;
      }
      throw error;
    }
  }
}

/** Waits until `at` (a performance.now() time); false when aborted first. */
async function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<boolean> {
  // Loop because Node's timers run on a millisecond clock and may fire a fraction early.
  for (let ms = at - performance.now(); ms > 0 && !signal?.aborted; ms = at - performance.now()) {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      return false;
    }
  }
  return !signal?.aborted;
}

/** A new connection once the server is back; undefined if the run ends or is aborted first. */
async function reconnect(
  url: string,
  endAt: number,
  signal: AbortSignal | undefined,
): Promise<pg.Client | undefined> {
  while (!signal?.aborted && performance.now() < endAt) {
    try {
      return await openClient(url, 'sluice-shop-traffic');
    } catch {
      // Server restarting (fault tests do this): try again shortly, but never past the end.
      if (!(await sleepUntil(Math.min(performance.now() + 200, endAt), signal))) return undefined;
    }
  }
  return undefined;
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

// No SQLSTATE means a socket-level failure; class 08 is connection exception and 57P0x the server
// shutting the session down. In all of them the client is unusable.
function isConnectionError(error: unknown): boolean {
  const state = sqlState(error);
  return state === undefined || state.startsWith('08') || state.startsWith('57P');
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`runTraffic: ${name} must be a positive number, got ${value}`);
  }
  return value;
}

async function loadModel(db: pg.Client, url: string): Promise<ShopModel> {
  const ids = async (sql: string): Promise<string[]> =>
    (await db.query<{ id: string }>(sql)).rows.map((r) => r.id);
  try {
    // Ids travel as text: int8 already does in pg, and serial (int4) would otherwise be a number.
    const customers = await ids('SELECT id::text AS id FROM public.customers ORDER BY id');
    const addresses = await ids('SELECT id::text AS id FROM public.addresses ORDER BY id');
    const products = await ids('SELECT id::text AS id FROM public.products ORDER BY sku');
    if (products.length === 0) {
      throw new Error(
        `the shop in ${redactUrl(url)} has no products; seed it first (sluice example shop seed).`,
      );
    }
    const open = await db.query<{
      id: string;
      status: OrderState;
      customer_id: string;
      lines: number;
      products: number;
    }>(
      `SELECT o.id, o.status, o.customer_id,
              count(i.order_id)::int AS lines, count(DISTINCT i.product_id)::int AS products
       FROM public.orders o LEFT JOIN public.order_items i ON i.order_id = o.id
       WHERE o.status <> 'delivered'
       GROUP BY o.id
       ORDER BY o.id`,
    );
    const orders: Record<OrderState, OrderRef[]> = { pending: [], paid: [], shipped: [], cancelled: [] };
    for (const r of open.rows) {
      orders[r.status].push({ id: r.id, customerId: r.customer_id, lines: r.lines, products: r.products });
    }
    return { customers, addresses, products, orders, runTag: customers.at(-1) ?? '0', newCustomers: 0 };
  } catch (error) {
    if (sqlState(error) === '42P01') {
      throw new Error(
        `the shop schema is missing in ${redactUrl(url)}; seed it first (sluice example shop seed).`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Removes and returns a random element (swap with the last: O(1), deterministic). */
function takeRandom<T>(rng: Random, items: T[]): T | undefined {
  if (items.length === 0) return undefined;
  const i = rng.int(0, items.length - 1);
  const item = items[i]!;
  items[i] = items[items.length - 1]!;
  items.pop();
  return item;
}

/**
 * Draws the operation sequence. Everything is drawn from one seeded PRNG synchronously, so the
 * sequence of kinds and parameters is fixed by the seed; rows are taken out of the model while an
 * op is in flight so two connections never act on the same order or address.
 */
class Planner {
  readonly #rng: Random;
  readonly #model: ShopModel;
  readonly #cumulative: [OpKind, number][];
  readonly #totalWeight: number;

  constructor(rng: Random, model: ShopModel) {
    this.#rng = rng;
    this.#model = model;
    let sum = 0;
    this.#cumulative = OP_KINDS.map((k) => [k, (sum += OP_WEIGHTS[k])]);
    this.#totalWeight = sum;
  }

  next(): Op {
    const x = this.#rng.next() * this.#totalWeight;
    const kind = this.#cumulative.find(([, upTo]) => x < upTo)![0];
    // When the chosen kind has nothing to act on (no pending orders yet, say), the shop takes an order.
    return this.#plan(kind) ?? this.#plan('placeOrder') ?? this.#newCustomer();
  }

  #plan(kind: OpKind): Op | undefined {
    switch (kind) {
      case 'placeOrder':
        return this.#placeOrder();
      case 'payOrder':
        return this.#payOrder();
      case 'shipOrder':
        return this.#advanceOrder('shipOrder', 'paid', 'shipped');
      case 'deliverOrder':
        return this.#advanceOrder('deliverOrder', 'shipped', 'delivered');
      case 'cancelOrder':
        return this.#cancelOrder();
      case 'deleteOrder':
        return this.#deleteOrder();
      case 'editCustomer':
        return this.#editCustomer();
      case 'newCustomer':
        return this.#newCustomer();
      case 'addAddress':
        return this.#addAddress();
      case 'deleteAddress':
        return this.#deleteAddress();
      case 'restockProducts':
        return this.#restockProducts();
      case 'renameProduct':
      case 'repriceProduct':
      case 'retagProduct':
        return this.#changeProduct(kind);
    }
  }

  #placeOrder(): Op | undefined {
    const rng = this.#rng;
    const m = this.#model;
    if (m.customers.length === 0 || m.products.length === 0) return undefined;
    const customerId = m.customers[rng.skewedIndex(m.customers.length)]!;
    const lines = rng
      .distinctIndexes(Math.min(rng.int(1, 5), m.products.length), m.products.length, true)
      .map((i) => ({ productId: m.products[i]!, quantity: rng.chance(0.8) ? 1 : rng.int(2, 4) }));
    // Stock is taken in product-id order so concurrent orders lock inventory rows in one order
    // and do not deadlock (retries would still cope, at a latency cost).
    const stock = [...lines].sort((a, b) => (a.productId < b.productId ? -1 : 1));
    let orderId = '';
    return {
      kind: 'placeOrder',
      planned: 2 + 2 * lines.length,
      transactional: true,
      run: async (db) => {
        const prices = await db.query<{ id: string; price: string }>({
          name: 'shop_product_prices',
          text: 'SELECT id, price FROM public.products WHERE id = ANY($1::uuid[])',
          values: [lines.map((l) => l.productId)],
        });
        const cents = new Map(prices.rows.map((r) => [r.id, toCents(r.price)]));
        const unitCents = lines.map((l) => cents.get(l.productId) ?? 0);
        const total = lines.reduce((sum, l, i) => sum + l.quantity * unitCents[i]!, 0);
        const order = await db.query<{ id: string }>({
          name: 'shop_insert_order',
          text: 'INSERT INTO public.orders (customer_id, total) VALUES ($1, $2) RETURNING id',
          values: [customerId, formatCents(total)],
        });
        orderId = order.rows[0]!.id;
        const items = await db.query({
          name: 'shop_insert_items',
          text: `INSERT INTO public.order_items (order_id, line_no, product_id, quantity, unit_price)
                 SELECT $1, l, p, q, u FROM unnest($2::smallint[], $3::uuid[], $4::int[], $5::numeric[]) AS t (l, p, q, u)`,
          values: [
            orderId,
            lines.map((_, i) => i + 1),
            lines.map((l) => l.productId),
            lines.map((l) => l.quantity),
            unitCents.map(formatCents),
          ],
        });
        const inventory = await db.query({
          name: 'shop_take_stock',
          text: `UPDATE public.inventory AS i SET quantity = i.quantity - t.q, updated_at = now()
                 FROM unnest($1::uuid[], $2::int[]) AS t (p, q) WHERE i.product_id = t.p`,
          values: [stock.map((l) => l.productId), stock.map((l) => l.quantity)],
        });
        const audit = await insertAudit(db, `customer:${customerId}`, 'order.placed', {
          order_id: orderId,
          items: lines.length,
          total: formatCents(total),
        });
        return 1 + rows(items) + rows(inventory) + audit;
      },
      committed: () => {
        m.orders.pending.push({ id: orderId, customerId, lines: lines.length, products: lines.length });
      },
      failed: () => undefined,
    };
  }

  #payOrder(): Op | undefined {
    const m = this.#model;
    const order = takeRandom(this.#rng, m.orders.pending);
    if (!order) return undefined;
    const method = this.#rng.pick(PAYMENT_METHODS);
    let paid = false;
    return {
      kind: 'payOrder',
      planned: 3,
      transactional: true,
      run: async (db) => {
        const updated = await db.query<{ total: string }>({
          name: 'shop_mark_paid',
          text: `UPDATE public.orders SET status = 'paid', updated_at = now()
                 WHERE id = $1 AND status = 'pending' RETURNING total`,
          values: [order.id],
        });
        const total = updated.rows[0]?.total;
        paid = total !== undefined;
        // Someone else moved the order on (only possible with a second writer): nothing to pay.
        if (total === undefined) return 0;
        await db.query({
          name: 'shop_insert_payment',
          text: 'INSERT INTO public.payments (order_id, amount, method) VALUES ($1, $2, $3)',
          values: [order.id, total, method],
        });
        const audit = await insertAudit(db, `customer:${order.customerId}`, 'order.paid', {
          order_id: order.id,
          amount: total,
          method,
        });
        return 2 + audit;
      },
      committed: () => {
        if (paid) m.orders.paid.push(order);
      },
      failed: () => m.orders.pending.push(order),
    };
  }

  #advanceOrder(
    kind: 'shipOrder' | 'deliverOrder',
    from: 'paid' | 'shipped',
    to: 'shipped' | 'delivered',
  ): Op | undefined {
    const m = this.#model;
    const order = takeRandom(this.#rng, m.orders[from]);
    if (!order) return undefined;
    let moved = false;
    return {
      kind,
      planned: 1,
      transactional: false,
      run: async (db) => {
        const result = await db.query({
          name: `shop_mark_${to}`,
          text: `UPDATE public.orders SET status = '${to}', updated_at = now() WHERE id = $1 AND status = '${from}'`,
          values: [order.id],
        });
        moved = rows(result) > 0;
        return rows(result);
      },
      committed: () => {
        // Delivered orders are finished: the application forgets them.
        if (moved && to === 'shipped') m.orders.shipped.push(order);
      },
      failed: () => m.orders[from].push(order),
    };
  }

  #cancelOrder(): Op | undefined {
    const m = this.#model;
    const order = takeRandom(this.#rng, m.orders.pending);
    if (!order) return undefined;
    let cancelled = false;
    return {
      kind: 'cancelOrder',
      planned: 2 + order.products,
      transactional: true,
      run: async (db) => {
        const updated = await db.query({
          name: 'shop_mark_cancelled',
          text: `UPDATE public.orders SET status = 'cancelled', updated_at = now()
                 WHERE id = $1 AND status = 'pending'`,
          values: [order.id],
        });
        cancelled = rows(updated) > 0;
        if (!cancelled) return 0;
        // Aggregated per product so an order with two lines of one product restocks it once;
        // ordered by product id like placeOrder, to take row locks in the same order.
        const restocked = await db.query({
          name: 'shop_restock_order',
          text: `UPDATE public.inventory AS i SET quantity = i.quantity + s.q, updated_at = now()
                 FROM (SELECT product_id, sum(quantity)::int AS q FROM public.order_items
                       WHERE order_id = $1 GROUP BY product_id ORDER BY product_id) AS s
                 WHERE i.product_id = s.product_id`,
          values: [order.id],
        });
        const audit = await insertAudit(db, `customer:${order.customerId}`, 'order.cancelled', {
          order_id: order.id,
        });
        return 1 + rows(restocked) + audit;
      },
      committed: () => {
        if (cancelled) m.orders.cancelled.push(order);
      },
      failed: () => m.orders.pending.push(order),
    };
  }

  #deleteOrder(): Op | undefined {
    const m = this.#model;
    const order = takeRandom(this.#rng, m.orders.cancelled);
    if (!order) return undefined;
    return {
      kind: 'deleteOrder',
      planned: order.lines + 2,
      transactional: true,
      run: async (db) => {
        // Items first (they reference the order), and only if the order really is cancelled.
        const items = await db.query({
          name: 'shop_delete_items',
          text: `DELETE FROM public.order_items WHERE order_id = $1
                 AND EXISTS (SELECT 1 FROM public.orders WHERE id = $1 AND status = 'cancelled')`,
          values: [order.id],
        });
        const deleted = await db.query({
          name: 'shop_delete_order',
          text: `DELETE FROM public.orders WHERE id = $1 AND status = 'cancelled'`,
          values: [order.id],
        });
        if (rows(deleted) === 0) return rows(items);
        const audit = await insertAudit(db, 'staff:housekeeping', 'order.deleted', { order_id: order.id });
        return rows(items) + 1 + audit;
      },
      committed: () => undefined,
      failed: () => m.orders.cancelled.push(order),
    };
  }

  #editCustomer(): Op | undefined {
    const rng = this.#rng;
    const m = this.#model;
    if (m.customers.length === 0) return undefined;
    const id = m.customers[rng.skewedIndex(m.customers.length)]!;
    const name = fakeName(rng);
    // The email embeds the customer's own id, so it can never collide with another customer's.
    const email = rng.chance(0.5) ? fakeEmail(name, id, 'example.net') : undefined;
    return {
      kind: 'editCustomer',
      planned: 1,
      transactional: false,
      run: async (db) =>
        rows(
          email === undefined
            ? await db.query({
                name: 'shop_rename_customer',
                text: 'UPDATE public.customers SET name = $2, updated_at = now() WHERE id = $1',
                values: [id, name],
              })
            : await db.query({
                name: 'shop_edit_customer',
                text: 'UPDATE public.customers SET name = $2, email = $3, updated_at = now() WHERE id = $1',
                values: [id, name, email],
              }),
        ),
      committed: () => undefined,
      failed: () => undefined,
    };
  }

  #newCustomer(): Op {
    const rng = this.#rng;
    const m = this.#model;
    const name = fakeName(rng);
    const email = fakeEmail(name, `r${m.runTag}-${++m.newCustomers}`, 'example.org');
    const address = fakeAddress(rng);
    let customerId: string | undefined;
    let addressId: string | undefined;
    return {
      kind: 'newCustomer',
      planned: 2,
      transactional: true,
      run: async (db) => {
        // ON CONFLICT: two generators started from the same state would draw the same emails.
        const customer = await db.query<{ id: string }>({
          name: 'shop_insert_customer',
          text: `INSERT INTO public.customers (email, name) VALUES ($1, $2)
                 ON CONFLICT (email) DO NOTHING RETURNING id`,
          values: [email, name],
        });
        customerId = customer.rows[0]?.id;
        addressId = undefined;
        if (customerId === undefined) return 0;
        addressId = await insertAddress(db, customerId, address);
        return 2;
      },
      committed: () => {
        if (customerId !== undefined) m.customers.push(customerId);
        if (addressId !== undefined) m.addresses.push(addressId);
      },
      failed: () => undefined,
    };
  }

  #addAddress(): Op | undefined {
    const rng = this.#rng;
    const m = this.#model;
    if (m.customers.length === 0) return undefined;
    const customerId = m.customers[rng.skewedIndex(m.customers.length)]!;
    const address = fakeAddress(rng);
    let addressId = '';
    return {
      kind: 'addAddress',
      planned: 1,
      transactional: false,
      run: async (db) => {
        addressId = await insertAddress(db, customerId, address);
        return 1;
      },
      committed: () => m.addresses.push(addressId),
      failed: () => undefined,
    };
  }

  #deleteAddress(): Op | undefined {
    const m = this.#model;
    const id = takeRandom(this.#rng, m.addresses);
    if (id === undefined) return undefined;
    return {
      kind: 'deleteAddress',
      planned: 1,
      transactional: false,
      run: async (db) =>
        rows(
          await db.query({
            name: 'shop_delete_address',
            text: 'DELETE FROM public.addresses WHERE id = $1',
            values: [id],
          }),
        ),
      committed: () => undefined,
      failed: () => m.addresses.push(id),
    };
  }

  #restockProducts(): Op {
    const rng = this.#rng;
    const m = this.#model;
    const ids = rng
      .distinctIndexes(Math.min(rng.int(1, 3), m.products.length), m.products.length, true)
      .map((i) => m.products[i]!)
      .sort();
    const quantities = ids.map(() => rng.int(10, 200));
    return {
      kind: 'restockProducts',
      planned: ids.length,
      transactional: false,
      run: async (db) =>
        rows(
          await db.query({
            name: 'shop_restock',
            text: `UPDATE public.inventory AS i SET quantity = i.quantity + t.q, updated_at = now()
                   FROM unnest($1::uuid[], $2::int[]) AS t (p, q) WHERE i.product_id = t.p`,
            values: [ids, quantities],
          }),
        ),
      committed: () => undefined,
      failed: () => undefined,
    };
  }

  // None of these touch the TOASTed description, so pgoutput sends it as "unchanged".
  #changeProduct(kind: 'renameProduct' | 'repriceProduct' | 'retagProduct'): Op {
    const rng = this.#rng;
    const m = this.#model;
    const id = m.products[rng.skewedIndex(m.products.length)]!;
    let query: pg.QueryConfig;
    if (kind === 'renameProduct') {
      query = {
        name: 'shop_rename_product',
        text: 'UPDATE public.products SET name = $2 WHERE id = $1',
        values: [id, fakeProductName(rng)],
      };
    } else if (kind === 'repriceProduct') {
      const factor = (rng.int(800, 1200) / 1000).toFixed(3);
      query = {
        name: 'shop_reprice_product',
        text: 'UPDATE public.products SET price = greatest(round(price * $2::numeric, 2), 0.01) WHERE id = $1',
        values: [id, factor],
      };
    } else {
      query = {
        name: 'shop_retag_product',
        text: 'UPDATE public.products SET tags = $2::text[], attributes = attributes || $3::jsonb WHERE id = $1',
        values: [id, fakeTags(rng), JSON.stringify(fakeAttributePatch(rng))],
      };
    }
    return {
      kind,
      planned: 1,
      transactional: false,
      run: async (db) => rows(await db.query(query)),
      committed: () => undefined,
      failed: () => undefined,
    };
  }
}

async function insertAudit(db: pg.Client, actor: string, action: string, detail: object): Promise<number> {
  const result = await db.query({
    name: 'shop_insert_audit',
    text: 'INSERT INTO public.audit_log (actor, action, detail) VALUES ($1, $2, $3::jsonb)',
    values: [actor, action, JSON.stringify(detail)],
  });
  return rows(result);
}

async function insertAddress(
  db: pg.Client,
  customerId: string,
  address: { lines: string[]; city: string; country: string },
): Promise<string> {
  const result = await db.query<{ id: string }>({
    name: 'shop_insert_address',
    text: `INSERT INTO public.addresses (customer_id, lines, city, country) VALUES ($1, $2::text[], $3, $4)
           RETURNING id::text AS id`,
    values: [customerId, address.lines, address.city, address.country],
  });
  return result.rows[0]!.id;
}

function rows(result: pg.QueryResult): number {
  return result.rowCount ?? 0;
}
