/**
 * The shop's enricher (`sluice consumers run examples/shop/enrichers/order-events.ts`) against
 * real servers: every order status change the test commits becomes exactly one integration event
 * that validates against its contract and carries what the source tables hold (checked with SQL),
 * across a SIGKILL of the enricher mid-stream and a replay (`sluice consumers reset`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { eventually, readStream } from '../harness/index.js';
import { IntegrationEvent, contractUrn } from '../../schemas/integration-events.js';
import { listConsumers } from '../../consumers/runtime/consumer-admin.js';
import { JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { enricherJsonSchemas } from '../../consumers/enrichers/enricher-schemas.js';
import { seedShop } from '../../examples/shop/seed.js';
import orderEvents from '../../examples/shop/enrichers/order-events.js';
import { startEnv, type SluiceEnv } from './env.js';
import { shopConnectorEnv, tail, waitCaughtUp, waitSnapshotsDone } from './faults-helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODULE = 'examples/shop/enrichers/order-events.ts';
let env: SluiceEnv;

interface Child {
  output(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}
const children: Child[] = [];

function sluice(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      SLUICE_NATS_URL: env.nats.url,
      SLUICE_CONSUMERS_HTTP_PORT: '0',
      SLUICE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const c: Child = {
    output: () => out,
    exited,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  children.push(c);
  return c;
}

async function startEnricher(): Promise<Child> {
  const c = sluice(['consumers', 'run', MODULE]);
  await eventually(() => /"msg":"consumer running"/.test(c.output()), {
    timeout: 60_000,
    interval: 50,
    message: `the enricher to run:\n${tail(c.output())}`,
  });
  return c;
}

/** What the test committed: one expected event per (order, type). */
const expected = new Map<string, string>(); // `${orderId}:${type}` → type

async function placeOrder(customerId: string, productIds: string[]): Promise<string> {
  const c = new pg.Client({ connectionString: env.dbUrl });
  await c.connect();
  try {
    await c.query('BEGIN');
    const o = await c.query<{ id: string }>(
      'INSERT INTO public.orders (customer_id, total) VALUES ($1, 10) RETURNING id::text',
      [customerId],
    );
    const id = o.rows[0]!.id;
    await c.query(
      `INSERT INTO public.order_items (order_id, line_no, product_id, quantity, unit_price)
       SELECT $1, n, p, n, 2.50 FROM unnest($2::uuid[]) WITH ORDINALITY AS t (p, n)`,
      [id, productIds],
    );
    await c.query('COMMIT');
    expected.set(`${id}:shop.order.placed`, 'shop.order.placed');
    return id;
  } finally {
    await c.end();
  }
}

async function setStatus(orderId: string, status: 'paid' | 'shipped' | 'cancelled'): Promise<void> {
  await env.sql(`UPDATE public.orders SET status = $2, updated_at = now() WHERE id = $1`, [orderId, status]);
  expected.set(`${orderId}:shop.order.${status}`, `shop.order.${status}`);
}

async function integrationEvents() {
  return (await readStream(env.nc, 'CDC_EVENTS', { filter: 'cdc.events.shop.>' })).map((m) => ({
    subject: m.subject,
    msgId: m.headers['Nats-Msg-Id'],
    event: IntegrationEvent.parse(m.data),
  }));
}

async function waitForEvents(n: number, child: Child) {
  await eventually(
    async () => {
      const got = await integrationEvents();
      if (got.length < n) throw new Error(`${got.length} of ${n} integration events`);
      return got;
    },
    { timeout: 120_000, interval: 250, message: `the integration events:\n${tail(child.output())}` },
  );
}

/** The truth of orders the test deleted, taken before deleting them. */
const deletedTruth = new Map<string, Awaited<ReturnType<typeof orderTruth>>>();

/** The truth, from the source tables: each order's customer and items with product names. */
async function orderTruth(orderId: string) {
  const o = await env.sql<{ customer: unknown; items: unknown }>(
    `SELECT json_build_object('id', c.id::text, 'name', c.name, 'email', c.email) AS customer,
            (SELECT json_agg(json_build_object('lineNo', i.line_no, 'productId', i.product_id::text,
                    'sku', p.sku, 'productName', p.name, 'quantity', i.quantity) ORDER BY i.line_no)
               FROM public.order_items i JOIN public.products p ON p.id = i.product_id
              WHERE i.order_id = o.id) AS items
       FROM public.orders o JOIN public.customers c ON c.id = o.customer_id WHERE o.id = $1`,
    [orderId],
  );
  return o.rows[0]!;
}

beforeAll(async () => {
  env = await startEnv();
  await seedShop(env.dbUrl, { customers: 40, products: 20, orders: 10, seed: 3 });
  env.startConnector(shopConnectorEnv());
  await waitSnapshotsDone(env);
}, 180_000);

afterAll(async () => {
  for (const c of children) await c.kill('SIGKILL');
  await env?.close();
});

describe('enrichers', () => {
  it('publishes each order status change once, valid against its contract, across a SIGKILL and a replay', async () => {
    const customers = (
      await env.sql<{ id: string }>('SELECT id::text FROM public.customers ORDER BY id LIMIT 12')
    ).rows;
    const products = (await env.sql<{ id: string }>('SELECT id::text FROM public.products ORDER BY id')).rows;
    let enricher = await startEnricher();

    const orders: string[] = [];
    for (let i = 0; i < 24; i++) {
      const lines = products.slice(i % 10, (i % 10) + 1 + (i % 3)).map((p) => p.id);
      orders.push(await placeOrder(customers[i % customers.length]!.id, lines));
    }
    for (const id of orders.slice(0, 16)) await setStatus(id, 'paid');
    await waitForEvents(12, enricher);
    // Killed while it works through the rest: redelivered transactions must not publish twice.
    await enricher.kill('SIGKILL');
    // An order placed, cancelled and deleted before the enricher sees it: its events are built
    // from the tombstones' last rows.
    const gone = await placeOrder(customers[0]!.id, [products[0]!.id, products[1]!.id]);
    await setStatus(gone, 'cancelled');
    deletedTruth.set(gone, await orderTruth(gone));
    await env.sql('DELETE FROM public.order_items WHERE order_id = $1', [gone]);
    await env.sql('DELETE FROM public.orders WHERE id = $1', [gone]);
    enricher = await startEnricher();
    for (const id of orders.slice(0, 8)) await setStatus(id, 'shipped');
    for (const id of orders.slice(16, 20)) await setStatus(id, 'cancelled');
    // Changes that are no status change publish nothing.
    await env.sql(`UPDATE public.orders SET updated_at = now() WHERE id = $1`, [orders[23]]);
    await waitCaughtUp(env);
    await waitForEvents(expected.size, enricher);
    const client = await JetStreamClient.create(env.nc);
    await eventually(
      async () => {
        const [s] = (await listConsumers(client, 'cdc')).filter((c) => c.name === 'shop-order-events');
        if (!s || s.pending > 0 || s.ackPending > 0) throw new Error(`enricher at ${JSON.stringify(s)}`);
        return true;
      },
      { timeout: 60_000, interval: 250, message: 'the enricher to catch up' },
    );
    await checkEvents();

    // Replay everything: nothing is published again.
    await enricher.kill('SIGTERM');
    const reset = sluice(['consumers', 'reset', 'shop-order-events', '--from', 'beginning']);
    expect(await reset.exited, reset.output()).toBe(0);
    enricher = await startEnricher();
    await eventually(
      async () => {
        const [s] = (await listConsumers(client, 'cdc')).filter((c) => c.name === 'shop-order-events');
        if (!s || s.pending > 0 || s.ackPending > 0) throw new Error(`replay at ${JSON.stringify(s)}`);
        return true;
      },
      { timeout: 60_000, interval: 250, message: 'the replay to finish' },
    );
    await checkEvents();
    await enricher.kill('SIGTERM');
  }, 300_000);

  it('exports its contracts as JSON Schema (sluice schemas export --enricher)', async () => {
    const schemas = enricherJsonSchemas([orderEvents]);
    const out = mkdtempSync(join(tmpdir(), 'sluice-contracts-'));
    const cli = sluice(['schemas', 'export', '--out', out, '--enricher', MODULE]);
    expect(await cli.exited, cli.output()).toBe(0);
    expect(
      JSON.parse(readFileSync(join(out, 'integration', 'shop.order.paid.v1.schema.json'), 'utf8')),
    ).toEqual(schemas['shop.order.paid.v1']);
    rmSync(out, { recursive: true, force: true });
    expect(Object.keys(schemas).sort()).toEqual([
      'shop.order.cancelled.v1',
      'shop.order.paid.v1',
      'shop.order.placed.v1',
      'shop.order.shipped.v1',
    ]);
    const placed = schemas['shop.order.placed.v1']!;
    expect(placed.$id).toBe('urn:sluice:contract:shop.order.placed:v1');
    expect((placed.properties as Record<string, unknown>).items).toMatchObject({
      type: 'array',
      minItems: 1,
    });
    expect(placed.required).toEqual(expect.arrayContaining(['orderId', 'customer', 'items']));
  });
});

async function checkEvents(): Promise<void> {
  const events = await integrationEvents();
  const seen = new Map<string, number>();
  for (const { subject, msgId, event } of events) {
    const k = `${event.subject}:${event.type}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
    expect(subject).toBe(`cdc.events.${event.type}`);
    expect(msgId).toBe(event.id);
    const type = event.type.slice('shop.'.length);
    expect(event.dataschema).toBe(contractUrn('shop', type, 1));
    const contract = orderEvents.enricher.contracts[type]!;
    const data = contract.parse(event.data) as {
      orderId: string;
      status: string;
      customer: unknown;
      items: unknown[];
    };
    expect(data.orderId).toBe(event.subject);
    expect(data.status).toBe(type === 'order.placed' ? 'pending' : type.slice('order.'.length));
    const truth = deletedTruth.get(data.orderId) ?? (await orderTruth(data.orderId));
    expect(data.customer).toEqual(truth.customer);
    expect(data.items.map((i) => ({ ...(i as object), unitPrice: undefined }))).toEqual(
      (truth.items as object[]).map((i) => ({ ...i, unitPrice: undefined })),
    );
  }
  const duplicates = [...seen].filter(([, n]) => n > 1);
  expect(duplicates).toEqual([]);
  expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
}
