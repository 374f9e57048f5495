/**
 * The outbox without a table and the application context, against real servers: domain events
 * emitted in a transaction (the TypeScript helper, the SQL function, raw pg_logical_emit_message)
 * appear on <P>.events.<type> exactly when the transaction commits, at their place among its row
 * changes; the context reaches every event of its transaction and none of the next; payloads that
 * break their contract are dead-lettered and the connector goes on; across kill -9 of the connector
 * each event appears exactly once.
 *
 * The truth is what the test committed: transaction ids come from txid_current() inside each
 * transaction, and the order of writes is the order the test made them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, readStream, type StreamMessage } from '../harness/index.js';
import { startEnv, type RunningConnector, type SluiceEnv } from './env.js';
import { createShop } from '../../examples/shop/schema.js';
import { seedShop } from '../../examples/shop/seed.js';
import { placeOrder } from '../../examples/shop/outbox/place-order.js';
import { emit, setContext, withContext } from '../../client/index.js';
import { OutboxDeadLetterData, OutboxEventData } from '../../schemas/outbox.js';
import { cloudEvent, DeltaEvent, FactEvent, TxMarkerEvent } from '../../schemas/events.js';
import {
  faultDelay,
  prng,
  shopConnectorEnv,
  spawnStreaming,
  tail,
  waitCaughtUp,
  waitSnapshotsDone,
  waitStreaming,
} from './faults-helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONTRACTS = { SLUICE_OUTBOX_CONTRACTS: 'examples/shop/outbox/contracts.ts' };
const OutboxEvent = cloudEvent(OutboxEventData);
const DeadLetter = cloudEvent(OutboxDeadLetterData);

let env: SluiceEnv;
let client: pg.Client;
let connector: RunningConnector | null = null;
let products: string[];

beforeAll(async () => {
  env = await startEnv();
  await createShop(env.dbUrl);
  await seedShop(env.dbUrl, { customers: 20, products: 5, orders: 0 });
  products = (await env.sql<{ id: string }>('SELECT id FROM products ORDER BY id')).rows.map((r) => r.id);
  // The SQL helpers, installed the way a user does it.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'cli/sluice.ts', 'setup', 'outbox'],
    { cwd: ROOT, env: { ...process.env, ...env.env } },
  );
  expect(stdout).toContain('installed sluice.emit');
  client = new pg.Client({ connectionString: env.dbUrl });
  await client.connect();
});

afterAll(async () => {
  await client?.end().catch(() => undefined);
  await env?.close();
});

const events = (filter = 'cdc.events.>') => readStream(env.nc, 'CDC_EVENTS', { filter });
const deadLetters = () => readStream(env.nc, 'CDC_DLQ', { filter: 'cdc.dlq.connector.outbox' });
const data = (m: StreamMessage) => (m.data as { data: Record<string, unknown> }).data;
const txId = (m: StreamMessage) => (data(m).tx as { id: number } | undefined)?.id ?? data(m).id;

/** Runs `fn` in a transaction on the test's client; returns its xid and what fn returned. */
async function inTx<T>(
  fn: (c: pg.Client) => Promise<T>,
  rollback = false,
): Promise<{ xid: number; value: T }> {
  await client.query('BEGIN');
  const xid = Number((await client.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]!.x);
  const value = await fn(client);
  await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
  return { xid, value };
}

describe('outbox and context', () => {
  beforeAll(async () => {
    connector = env.startConnector(shopConnectorEnv(CONTRACTS));
    // The slot exists from here on: what is written next is captured.
    await eventually(() => expect(connector!.connector.status.state).toBe('streaming'), {
      timeout: 60_000,
      message: 'the connector to stream',
    });
    // The initial snapshot of the shop's tables would replace facts written meanwhile (op snapshot).
    await waitSnapshotsDone(env);
  });

  it('publishes domain events of committed transactions only, in place among their row changes, with the context of their own transaction', async () => {
    const ctx = { userId: 'u-17', requestId: 'req-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' };
    // 1. The example: order, items, event, under a context (withContext opens the transaction).
    const xid1 = Number(
      (
        await withContext(client, { probe: true }, async (c) =>
          c.query<{ x: string }>('SELECT txid_current()::text AS x'),
        )
      ).rows[0]!.x,
    );
    const orderId = await placeOrder(
      client,
      '1',
      [
        { productId: products[0]!, quantity: 2, unitPrice: '3.25' },
        { productId: products[1]!, quantity: 1, unitPrice: '10.00' },
      ],
      ctx,
    );
    // 2. Rolled back: rows and an event, none of it may appear.
    const rolledBack = await inTx(async (c) => {
      await setContext(c, { userId: 'ghost' });
      const r = await c.query<{ id: string }>(
        'INSERT INTO orders (customer_id, total) VALUES (2, 1.00) RETURNING id::text AS id',
      );
      await c.query('SELECT sluice.emit(\'order.cancelled\', $1, \'{"why": "never"}\')', [r.rows[0]!.id]);
      return r.rows[0]!.id;
    }, true);
    // 3. The SQL function, emitted before and between row changes, no context.
    const sqlTx = await inTx(async (c) => {
      await c.query(
        `SELECT sluice.emit('order.paid', $1, '{"amount": "16.50", "n": 123456789012345678901234567890}')`,
        [orderId],
      );
      await c.query("UPDATE orders SET status = 'paid' WHERE id = $1", [orderId]);
      await emit(c, 'order.noted', orderId, { note: 'paid in full' });
      await c.query("INSERT INTO payments (order_id, amount, method) VALUES ($1, 16.50, 'card')", [orderId]);
    });
    // 4. An event without any row change.
    const eventOnly = await inTx((c) => emit(c, 'customer.pinged', '3', [1, 2, 3]));

    await waitCaughtUp(env);
    const evs = await events();
    const byTx = (xid: number) => evs.filter((m) => txId(m) === xid);
    for (const m of evs) OutboxEvent.parse(m.data);
    expect(byTx(rolledBack.xid)).toEqual([]);
    expect(evs.map((m) => data(m).key)).not.toContain(rolledBack.value);
    expect(evs.map((m) => [m.subject, data(m).key])).toEqual([
      ['cdc.events.order.placed', orderId],
      ['cdc.events.order.paid', orderId],
      ['cdc.events.order.noted', orderId],
      ['cdc.events.customer.pinged', '3'],
    ]);
    expect(byTx(xid1)).toEqual([]); // withContext alone publishes nothing
    // The payload is what was emitted: a big number keeps its digits.
    expect(new TextDecoder().decode(evs[1]!.raw)).toContain('"n": 123456789012345678901234567890');
    expect(evs[1]!.headers['Nats-Msg-Id']).toBe((evs[1]!.data as { id: string }).id);

    // Schema events (each table's first streamed version) are not what this test is about.
    const deltas = (await env.deltas()).filter((m) => !m.subject.startsWith('cdc.schema.'));
    expect(deltas.filter((m) => txId(m) === rolledBack.xid)).toEqual([]);

    // Order inside each transaction: versions of deltas and events sorted = the order of writes.
    const inOrder = (xid: number) =>
      [...deltas.filter((m) => txId(m) === xid), ...byTx(xid)]
        .sort((a, b) => ((data(a).version as string) < (data(b).version as string) ? -1 : 1))
        .map((m) => m.subject.replace(/\.[^.]+$/, ''));
    const placedXid = txId(evs[0]!) as number;
    expect(inOrder(placedXid)).toEqual([
      'cdc.delta.public.orders.insert',
      'cdc.delta.public.order_items.insert',
      'cdc.delta.public.order_items.insert',
      'cdc.events.order',
      'cdc.tx',
    ]);
    expect(inOrder(sqlTx.xid)).toEqual([
      'cdc.events.order',
      'cdc.delta.public.orders.update',
      'cdc.events.order',
      'cdc.delta.public.payments.insert',
      'cdc.tx',
    ]);
    expect(inOrder(eventOnly.xid)).toEqual(['cdc.events.customer', 'cdc.tx']);
    // tx.seq is the index in the transaction; the commit marker counts deltas and events apart.
    expect(byTx(sqlTx.xid).map((m) => (data(m).tx as { seq: number }).seq)).toEqual([0, 2]);
    const marker = (xid: number) =>
      TxMarkerEvent.parse(deltas.find((m) => m.subject === `cdc.tx.${xid}`)!.data).data;
    expect(marker(placedXid)).toMatchObject({ events: 3, outbox: 1 });
    expect(marker(sqlTx.xid)).toMatchObject({ events: 2, outbox: 2 });
    expect(marker(eventOnly.xid)).toMatchObject({ events: 0, outbox: 1, tables: {} });

    // Context: on every delta, fact and event of its transaction, on none of the next.
    const placedDeltas = deltas.filter((m) => txId(m) === placedXid && !m.subject.startsWith('cdc.tx.'));
    expect(placedDeltas).toHaveLength(3);
    for (const m of placedDeltas) expect(DeltaEvent.parse(m.data).data.context).toEqual(ctx);
    expect(data(evs[0]!).context).toEqual(ctx);
    const facts = await env.facts();
    const itemFacts = facts.filter((m) => m.subject.startsWith(`cdc.fact.public.order_items.`));
    expect(itemFacts).toHaveLength(2);
    for (const m of itemFacts) expect(FactEvent.parse(m.data).data.context).toEqual(ctx);
    for (const m of [...deltas, ...facts, ...evs].filter(
      (m) => txId(m) === sqlTx.xid || txId(m) === eventOnly.xid,
    )) {
      expect(data(m).context, m.subject).toBeUndefined();
    }
  });

  it('dead-letters a payload that breaks its contract, and an unreadable message, and keeps going', async () => {
    const bad = await inTx(async (c) => {
      await c.query("UPDATE customers SET name = name || '!' WHERE id = 4");
      await setContext(c, { requestId: 'req-bad' });
      await emit(c, 'order.placed', '999', { orderId: 999, total: 'twelve', items: [] });
      await c.query("SELECT pg_logical_emit_message(true, 'sluice.outbox', 'not json')");
    });
    const good = await inTx((c) =>
      emit(c, 'order.placed', '1000', {
        orderId: '1000',
        customerId: '5',
        total: '1.00',
        items: [{ productId: products[2]!, quantity: 1, unitPrice: '1.00' }],
      }),
    );
    await waitCaughtUp(env);
    const dlq = (await deadLetters()).map((m) => DeadLetter.parse(m.data));
    expect(dlq.map((d) => [d.data.reason, d.data.type, d.data.tx.id])).toEqual([
      ['contract', 'order.placed', bad.xid],
      ['unreadable', undefined, bad.xid],
    ]);
    expect(dlq[0]!.data.error).toMatch(/orderId: .*; total: .*; items: /);
    expect(JSON.parse(dlq[0]!.data.message)).toMatchObject({ key: '999', payload: { total: 'twelve' } });
    expect(dlq[1]!.data.message).toBe('not json');
    expect(dlq[0]!.data.context).toEqual({ requestId: 'req-bad' });
    // The row change of that transaction is published, and so is the next valid event.
    // Schema events (each table's first streamed version) are not what this test is about.
    const deltas = (await env.deltas()).filter((m) => !m.subject.startsWith('cdc.schema.'));
    expect(deltas.filter((m) => txId(m) === bad.xid).map((m) => m.subject)).toEqual([
      'cdc.delta.public.customers.update.4',
      `cdc.tx.${bad.xid}`,
    ]);
    const placed = await events('cdc.events.order.placed');
    expect(placed.map((m) => [data(m).key, txId(m)]).slice(-1)).toEqual([['1000', good.xid]]);
    expect(placed.map((m) => data(m).key)).not.toContain('999');
  });

  it('publishes each event exactly once across kill -9 of the connector', async () => {
    await connector?.stop();
    connector = null;
    const rand = prng(Number(process.env.SLUICE_FAULT_SEED ?? 1313));
    const extra = shopConnectorEnv(CONTRACTS);
    let c = await spawnStreaming(env, extra);
    // A writer: each transaction a row change and two or three events of two types.
    const writer = new pg.Client({ connectionString: env.dbUrl });
    await writer.connect();
    const committed: string[] = [];
    let stop = false;
    const writing = (async () => {
      for (let i = 0; !stop; i++) {
        await writer.query('BEGIN');
        await setContext(writer, { requestId: `w-${i}` });
        await emit(writer, 'stock.counted', `${i}-a`, { i });
        await writer.query('UPDATE inventory SET quantity = quantity + 1 WHERE product_id = $1', [
          products[i % products.length],
        ]);
        await emit(writer, 'stock.noted', `${i}-b`, { i });
        if (i % 2) await emit(writer, 'stock.counted', `${i}-c`, { i });
        await writer.query('COMMIT');
        committed.push(`${i}-a`, `${i}-b`, ...(i % 2 ? [`${i}-c`] : []));
      }
    })();
    try {
      for (let k = 0; k < 3; k++) {
        if (k > 0) {
          c = env.spawnConnector(extra);
          await waitStreaming(c);
        }
        await faultDelay(300 + Math.floor(rand() * 1200));
        expect(c.child.exitCode, `the connector exited by itself:\n${tail(c.output())}`).toBeNull();
        await c.kill('SIGKILL');
      }
    } finally {
      stop = true;
      await writing;
      await writer.end();
    }
    c = env.spawnConnector(extra);
    await waitStreaming(c);
    await waitCaughtUp(env);
    const evs = await events('cdc.events.stock.>');
    const keys = evs.map((m) => data(m).key as string);
    expect(committed.length).toBeGreaterThan(30);
    expect(keys.length - new Set(keys).size, 'events stored twice').toBe(0);
    expect([...keys].sort()).toEqual([...committed].sort());
    // Per type, stream order is commit order; every event's context is its own transaction's.
    for (const subject of ['cdc.events.stock.counted', 'cdc.events.stock.noted']) {
      const versions = evs.filter((m) => m.subject === subject).map((m) => data(m).version as string);
      expect(versions).toEqual([...versions].sort());
    }
    for (const m of evs) {
      expect(data(m).context).toEqual({ requestId: `w-${(data(m).key as string).split('-')[0]}` });
    }
    await c.kill('SIGTERM');
  }, 240_000);
});
