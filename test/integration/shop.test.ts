import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_TABLES, createShop, dropShop } from '../../examples/shop/schema.js';
import { seedShop, type SeedStats } from '../../examples/shop/seed.js';
import { OP_KINDS, runTraffic } from '../../examples/shop/traffic.js';
import { eventually, startPostgres, type PostgresServer } from '../harness/index.js';

const SEED = { customers: 2000, products: 200, orders: 1000, seed: 42 };

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** md5 of every table's rows in text form, sorted, so row order on disk does not matter. */
async function checksums(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const sums: Record<string, string> = {};
    for (const table of SHOP_TABLES) {
      const r = await c.query<{ sum: string }>(
        `SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS sum
         FROM (SELECT t::text AS r FROM public.${table} t) s`,
      );
      sums[table] = r.rows[0]!.sum;
    }
    return sums;
  });
}

async function counts(url: string): Promise<Record<string, number>> {
  return withClient(url, async (c) => {
    const result: Record<string, number> = {};
    for (const table of SHOP_TABLES) {
      const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${table}`);
      result[table] = r.rows[0]!.n;
    }
    return result;
  });
}

describe('example shop', () => {
  let server: PostgresServer;
  let shopUrl: string;
  let seeded: SeedStats;

  beforeAll(async () => {
    server = await startPostgres();
    shopUrl = await server.createDatabase('shop_a');
    seeded = await seedShop(shopUrl, SEED);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('creates and drops its schema idempotently', async () => {
    const url = await server.createDatabase();
    await createShop(url);
    await createShop(url);
    const tables = async () =>
      withClient(url, async (c) => {
        const r = await c.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`,
          [[...SHOP_TABLES]],
        );
        return r.rows[0]!.n;
      });
    expect(await tables()).toBe(SHOP_TABLES.length);
    await dropShop(url);
    await dropShop(url);
    expect(await tables()).toBe(0);
  });

  it('seeds the requested rows with descriptions TOASTed out of line', async () => {
    const stats = seeded;
    expect(stats).toMatchObject({
      customers: 2000,
      products: 200,
      inventory: 200,
      orders: 1000,
      auditLog: 1000,
    });
    expect(stats.orderItems).toBeGreaterThanOrEqual(1000);
    expect(stats.orderItems).toBeLessThanOrEqual(5000);

    const rows = await counts(shopUrl);
    expect(rows).toMatchObject({
      customers: 2000,
      addresses: stats.addresses,
      products: 200,
      inventory: 200,
      orders: 1000,
      order_items: stats.orderItems,
      payments: stats.payments,
      audit_log: 1000,
    });

    await withClient(shopUrl, async (c) => {
      const size = await c.query<{ min: number; max: number }>(
        `SELECT min(octet_length(description))::int AS min, max(octet_length(description))::int AS max
         FROM public.products`,
      );
      expect(size.rows[0]!.min).toBeGreaterThanOrEqual(4000);
      expect(size.rows[0]!.max).toBeLessThanOrEqual(8192);
      // Every description is a separate value (chunk_id) in the products table's TOAST relation.
      const toast = await c.query<{ name: string }>(
        `SELECT reltoastrelid::regclass::text AS name FROM pg_class WHERE oid = 'public.products'::regclass`,
      );
      const chunks = await c.query<{ values: number }>(
        `SELECT count(DISTINCT chunk_id)::int AS values FROM ${toast.rows[0]!.name}`,
      );
      expect(chunks.rows[0]!.values).toBeGreaterThanOrEqual(200);
    });
  });

  it('seeds identical tables from the same seed, different ones from another', async () => {
    // Runs before the traffic test, which changes shop_a.
    const twin = await server.createDatabase('shop_b');
    const other = await server.createDatabase('shop_c');
    await seedShop(twin, SEED);
    await seedShop(other, { ...SEED, seed: 43 });
    const a = await checksums(shopUrl);
    expect(await checksums(twin)).toEqual(a);
    const c = await checksums(other);
    expect(c.customers).not.toBe(a.customers);
    expect(c.products).not.toBe(a.products);
  });

  it('runs application traffic at the target rate with every kind of operation', async () => {
    const before = await counts(shopUrl);
    const stats = await runTraffic(shopUrl, { rate: 500, durationSec: 5, seed: 7 });

    expect(stats.errors).toBe(0);
    expect(stats.achievedRate).toBeGreaterThan(500 * 0.85);
    expect(stats.achievedRate).toBeLessThan(500 * 1.15);
    for (const kind of OP_KINDS) expect(stats.opsByKind[kind], kind).toBeGreaterThan(0);
    expect(Object.values(stats.opsByKind).reduce((a, b) => a + b, 0)).toBe(stats.ops);
    expect(stats.latencyMs.p50).toBeGreaterThan(0);
    expect(stats.latencyMs.p99).toBeGreaterThanOrEqual(stats.latencyMs.p50);

    // The counted changes are real: each order event wrote one audit row, orders came and went.
    const after = await counts(shopUrl);
    const k = stats.opsByKind;
    expect(after.audit_log! - before.audit_log!).toBe(
      k.placeOrder + k.payOrder + k.cancelOrder + k.deleteOrder,
    );
    expect(after.orders! - before.orders!).toBe(k.placeOrder - k.deleteOrder);
    expect(after.payments! - before.payments!).toBe(k.payOrder);
    expect(after.customers! - before.customers!).toBe(k.newCustomer);
  });

  it('keeps going through a PostgreSQL restart, reconnecting', async () => {
    const controller = new AbortController();
    let latest = { ops: 0, errors: 0 };
    const traffic = runTraffic(shopUrl, {
      rate: 300,
      durationSec: 60,
      signal: controller.signal,
      onProgress: (s) => (latest = s),
    });
    await eventually(() => latest.ops > 50, { message: 'traffic before the restart' });
    await server.restart();
    const opsAfterRestart = latest.ops;
    await eventually(() => latest.ops > opsAfterRestart + 100, { message: 'traffic after the restart' });
    controller.abort();
    const stats = await traffic;
    expect(stats.ops).toBeGreaterThan(opsAfterRestart + 100);
    // Only the transactions cut off by the shutdown fail (about one per connection, 4 by default).
    expect(stats.errors).toBeLessThanOrEqual(8);
  });
});
