import type pg from 'pg';
import { openClient } from './db.js';
import {
  PAYMENT_METHODS,
  fakeAddress,
  fakeAttributes,
  fakeDescription,
  fakeEmail,
  fakeName,
  fakeProductName,
  fakeTags,
} from './fake-data.js';
import { formatCents, toCents } from './money.js';
import { Random, mixSeed } from './random.js';
import { SHOP_TABLES, createShop } from './schema.js';

/** What to seed; counts are rows added on top of whatever the shop already holds. */
export interface SeedOptions {
  /** Customers to create (each gets 0–2 addresses). */
  customers: number;
  /** Products to create, each with an inventory row. Default: max(20, customers / 20). */
  products?: number;
  /** Orders to create, each with 1–5 items, a payment unless pending or cancelled, and an audit row. Default: `customers`. */
  orders?: number;
  /** PRNG seed; the same seed on an empty shop gives byte-identical tables. Default 1. */
  seed?: number;
  /** Rows per INSERT statement and per transaction. Default 5000 (products: at most 250, they are large). */
  batchSize?: number;
}

/** Rows inserted per table by one {@link seedShop} run, and how long it took (seconds). */
export interface SeedStats {
  customers: number;
  addresses: number;
  products: number;
  inventory: number;
  orders: number;
  orderItems: number;
  payments: number;
  auditLog: number;
  elapsedSec: number;
}

const DEFAULT_BATCH = 5000;
// Keeps a products INSERT near 2 MB of descriptions (~6 KB each).
const MAX_PRODUCT_BATCH = 250;
// Seeded history starts here and spans about two years: fixed, so reruns produce the same timestamps.
const EPOCH_MICROS = Date.UTC(2024, 0, 1) * 1000;
const YEAR_SEC = 365 * 24 * 3600;
const DAY_SEC = 24 * 3600;

interface CustomerRef {
  id: string;
  createdMicros: number;
}
interface ProductRef {
  id: string;
  priceCents: number;
}

// Status mix of historic orders: most are done, a realistic tail is still moving.
const STATUS_WEIGHTS: readonly (readonly [status: string, weight: number])[] = [
  ['delivered', 55],
  ['shipped', 10],
  ['paid', 10],
  ['pending', 15],
  ['cancelled', 10],
];

/**
 * Creates the shop schema if missing and inserts deterministic data: the same options on an empty
 * database always produce the same rows (ids, timestamps and uuids included).
 */
export async function seedShop(url: string, opts: SeedOptions): Promise<SeedStats> {
  const customers = count('customers', opts.customers);
  const products = count('products', opts.products ?? Math.max(20, Math.round(customers / 20)));
  const orders = count('orders', opts.orders ?? customers);
  const batchSize = Math.max(1, count('batchSize', opts.batchSize ?? DEFAULT_BATCH));
  const started = performance.now();
  const stats: SeedStats = {
    customers: 0,
    addresses: 0,
    products: 0,
    inventory: 0,
    orders: 0,
    orderItems: 0,
    payments: 0,
    auditLog: 0,
    elapsedSec: 0,
  };

  const client = await openClient(url, 'sluice-shop-seed');
  try {
    await createShop(client);
    const existing = await client.query<{ customers: string; products: string; orders: string }>(
      `SELECT (SELECT count(*) FROM public.customers) AS customers,
              (SELECT count(*) FROM public.products) AS products,
              (SELECT count(*) FROM public.orders) AS orders`,
    );
    const base = existing.rows[0]!;
    // On an empty shop this is just `seed`; on a seeded one the streams differ, so a second run
    // with the same seed adds new rows instead of colliding with the first run's uuids and SKUs.
    const root = mixSeed(opts.seed ?? 1, Number(base.customers), Number(base.products), Number(base.orders));

    const customerPool: CustomerRef[] = [];
    const productPool: ProductRef[] = [];
    if (orders > 0) {
      // Orders may go to customers and products from earlier runs too.
      const c = await client.query<{ id: string; micros: string }>(
        `SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint AS micros FROM public.customers ORDER BY id`,
      );
      for (const row of c.rows) customerPool.push({ id: row.id, createdMicros: Number(row.micros) });
      const p = await client.query<{ id: string; price: string }>(
        `SELECT id, price FROM public.products ORDER BY sku`,
      );
      for (const row of p.rows) productPool.push({ id: row.id, priceCents: toCents(row.price) });
    }

    await seedCustomers(client, new Random(mixSeed(root, 1)), customers, batchSize, stats, customerPool);
    await seedProducts(
      client,
      new Random(mixSeed(root, 2)),
      products,
      Math.min(batchSize, MAX_PRODUCT_BATCH),
      Number(base.products),
      stats,
      productPool,
    );
    if (orders > 0 && (customerPool.length === 0 || productPool.length === 0)) {
      throw new Error('seedShop: orders need at least one customer and one product; seed some first.');
    }
    await seedOrders(
      client,
      new Random(mixSeed(root, 3)),
      orders,
      batchSize,
      stats,
      customerPool,
      productPool,
    );

    // Fresh statistics so the traffic generator's first queries get sensible plans.
    await client.query(`ANALYZE ${SHOP_TABLES.map((t) => `public.${t}`).join(', ')}`);
  } finally {
    await client.end();
  }
  stats.elapsedSec = (performance.now() - started) / 1000;
  return stats;
}

async function seedCustomers(
  client: pg.Client,
  rng: Random,
  total: number,
  batchSize: number,
  stats: SeedStats,
  pool: CustomerRef[],
): Promise<void> {
  for (let done = 0; done < total;) {
    const n = Math.min(batchSize, total - done);
    await transaction(client, async () => {
      const ids = await reserveIds(client, 'public.customers', n);
      const c = columns(5);
      const a = columns(4);
      for (const id of ids) {
        const name = fakeName(rng);
        const created = EPOCH_MICROS + rng.int(0, YEAR_SEC) * 1e6 + rng.int(0, 999_999);
        const updated = rng.chance(0.3) ? created + rng.int(1, 90 * DAY_SEC) * 1e6 : created;
        push(c, id, fakeEmail(name, id, 'example.com'), name, isoMicros(created), isoMicros(updated));
        pool.push({ id, createdMicros: created });
        for (let k = rng.int(0, 2); k > 0; k--) {
          const address = fakeAddress(rng);
          push(a, id, textArrayLiteral(address.lines), address.city, address.country);
        }
      }
      await client.query(
        `INSERT INTO public.customers (id, email, name, created_at, updated_at)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])`,
        c,
      );
      // ORDER BY the ordinality so serial ids follow the generated order: determinism.
      const inserted = await client.query(
        `INSERT INTO public.addresses (customer_id, lines, city, country)
         SELECT c, l::text[], ci, co
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u (c, l, ci, co, n)
         ORDER BY n`,
        a,
      );
      stats.customers += n;
      stats.addresses += inserted.rowCount ?? 0;
    });
    done += n;
  }
}

async function seedProducts(
  client: pg.Client,
  rng: Random,
  total: number,
  batchSize: number,
  existingProducts: number,
  stats: SeedStats,
  pool: ProductRef[],
): Promise<void> {
  for (let done = 0; done < total;) {
    const n = Math.min(batchSize, total - done);
    const p = columns(7);
    const inv = columns(3);
    for (let i = 0; i < n; i++) {
      const id = rng.uuid();
      const priceCents = rng.int(199, 49_999);
      const sku = `SKU-${String(existingProducts + done + i + 1).padStart(7, '0')}`;
      push(
        p,
        id,
        sku,
        fakeProductName(rng),
        formatCents(priceCents),
        JSON.stringify(fakeAttributes(rng)),
        textArrayLiteral(fakeTags(rng)),
        fakeDescription(rng),
      );
      push(inv, id, rng.int(50, 1000), isoMicros(EPOCH_MICROS + rng.int(0, YEAR_SEC) * 1e6));
      pool.push({ id, priceCents });
    }
    await transaction(client, async () => {
      await client.query(
        `INSERT INTO public.products (id, sku, name, price, attributes, tags, description)
         SELECT i, s, n, p, a::jsonb, t::text[], d
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[], $7::text[])
           AS u (i, s, n, p, a, t, d)`,
        p,
      );
      await client.query(
        `INSERT INTO public.inventory (product_id, quantity, updated_at)
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[])`,
        inv,
      );
    });
    stats.products += n;
    stats.inventory += n;
    done += n;
  }
}

async function seedOrders(
  client: pg.Client,
  rng: Random,
  total: number,
  batchSize: number,
  stats: SeedStats,
  customers: readonly CustomerRef[],
  products: readonly ProductRef[],
): Promise<void> {
  const statuses = STATUS_WEIGHTS.flatMap(([status, weight]) => Array<string>(weight).fill(status));
  for (let done = 0; done < total;) {
    const n = Math.min(batchSize, total - done);
    // An order with its items, payment and audit row commits together, as the application would.
    await transaction(client, async () => {
      const ids = await reserveIds(client, 'public.orders', n);
      const o = columns(6);
      const items = columns(5);
      const pay = columns(5);
      const audit = columns(4);
      for (const id of ids) {
        const customer = customers[rng.skewedIndex(customers.length)]!;
        const placed =
          Math.max(customer.createdMicros, EPOCH_MICROS) +
          rng.int(60, 365 * DAY_SEC) * 1e6 +
          rng.int(0, 999_999);
        const status = rng.pick(statuses);
        const lines = rng.distinctIndexes(Math.min(rng.int(1, 5), products.length), products.length, true);
        let totalCents = 0;
        lines.forEach((productIndex, line) => {
          const product = products[productIndex]!;
          const quantity = rng.chance(0.8) ? 1 : rng.int(2, 4);
          totalCents += quantity * product.priceCents;
          push(items, id, line + 1, product.id, quantity, formatCents(product.priceCents));
        });
        const updated = status === 'pending' ? placed : placed + rng.int(60, 10 * DAY_SEC) * 1e6;
        push(o, id, customer.id, status, formatCents(totalCents), isoMicros(placed), isoMicros(updated));
        if (status !== 'pending' && status !== 'cancelled') {
          const paidAt = placed + rng.int(5, 3600) * 1e6;
          push(pay, rng.uuid(), id, formatCents(totalCents), rng.pick(PAYMENT_METHODS), isoMicros(paidAt));
        }
        push(
          audit,
          isoMicros(placed),
          `customer:${customer.id}`,
          'order.placed',
          JSON.stringify({ order_id: id, items: lines.length, total: formatCents(totalCents) }),
        );
      }
      await client.query(
        `INSERT INTO public.orders (id, customer_id, status, total, placed_at, updated_at)
         OVERRIDING SYSTEM VALUE
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::public.order_status[], $4::numeric[],
                              $5::timestamptz[], $6::timestamptz[])`,
        o,
      );
      await client.query(
        `INSERT INTO public.order_items (order_id, line_no, product_id, quantity, unit_price)
         SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::uuid[], $4::int[], $5::numeric[])`,
        items,
      );
      await client.query(
        `INSERT INTO public.payments (id, order_id, amount, method, paid_at)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::numeric[], $4::text[], $5::timestamptz[])`,
        pay,
      );
      await client.query(
        `INSERT INTO public.audit_log (at, actor, action, detail)
         SELECT at, actor, action, detail::jsonb
         FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[]) AS u (at, actor, action, detail)`,
        audit,
      );
      stats.orders += n;
      stats.orderItems += items[0]!.length;
      stats.payments += pay[0]!.length;
      stats.auditLog += n;
    });
    done += n;
  }
}

/** Takes `n` values from the table's id sequence so rows can reference each other before insert. */
async function reserveIds(client: pg.Client, table: string, n: number): Promise<string[]> {
  const result = await client.query<{ id: string }>(
    `SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id FROM generate_series(1, $2)`,
    [table, n],
  );
  return result.rows.map((r) => r.id);
}

async function transaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await fn();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

// Column-major buffers: one array per unnest() parameter.
function columns(n: number): unknown[][] {
  return Array.from({ length: n }, () => []);
}

function push(cols: unknown[][], ...values: unknown[]): void {
  values.forEach((v, i) => cols[i]!.push(v));
}

function count(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`seedShop: ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** A PostgreSQL array literal of text elements (each quoted), for unnest() of text[] values. */
export function textArrayLiteral(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/** Microseconds since the Unix epoch as ISO 8601 UTC with six fractional digits. */
export function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const rest = String(micros - ms * 1000).padStart(3, '0');
  return new Date(ms).toISOString().replace('Z', `${rest}Z`);
}
