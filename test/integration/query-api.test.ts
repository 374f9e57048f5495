/**
 * The query API against real servers: the shop on PostgreSQL with the connector (position
 * heartbeats every second), the read-model daemon and the API in this process, the read database
 * as a second database on the same server. Answers are checked against the same SQL run on the
 * source database.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, type RunningConnector, type SluiceEnv } from './env.js';
import { shopConnectorEnv, startTraffic, waitCaughtUp, waitSnapshotsDone } from './faults-helpers.js';
import { seedShop } from '../../examples/shop/seed.js';
import { shopReadModels, type ShopReadModel } from '../../examples/shop/read-models.js';
import { parseReadModelsConfig } from '../../consumers/read-models/config.js';
import { runReadModels } from '../../consumers/read-models/daemon.js';
import { ReadModelMetrics } from '../../consumers/read-models/read-model-metrics.js';
import { createMetricsRegistry } from '../../observability/metrics-registry.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { startQueryApi, type QueryApi } from '../../consumers/query-api/index.js';
import { currentPosition, readModels, QueryApiError } from '../../client/index.js';
import { z } from 'zod';
import { defineEnricher } from '../../consumers/enrichers/define-enricher.js';
import { ConsumerRunner } from '../../consumers/runtime/consumer-runner.js';
import { JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { readStream } from '../harness/index.js';

/** Beyond the shop's three: a composite key, and a text key holding a comma. */
const EXTRA_MODELS: ShopReadModel[] = [
  {
    name: 'order_lines',
    key: ['order_id', 'line_no'],
    sql: `SELECT i.order_id, i.line_no, p.sku, p.name AS product, i.quantity, i.unit_price
          FROM order_items i JOIN products p ON p.id = i.product_id`,
  },
  {
    name: 'places',
    key: ['place'],
    sql: `SELECT a.city || ', ' || a.country AS place, count(*) AS addresses FROM addresses a GROUP BY 1`,
  },
];
const MODELS = [...shopReadModels, ...EXTRA_MODELS];
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
const silent = { info: () => undefined, warn: () => undefined, debug: () => undefined };
/** Read-your-writes iterations (SLUICE_RYW_ITERATIONS), spread over 4 concurrent writers. */
const RYW_ITERATIONS = Number(process.env.SLUICE_RYW_ITERATIONS ?? 400);

interface OrderSummary {
  order_id: string;
  status: string;
  total: string;
  items: unknown;
  item_count: string;
  customer_name: string;
}
interface Customer360 {
  customer_id: string;
  name: string;
  email: string;
  order_count: string;
  lifetime_value: string;
}
type Models = {
  order_summary: OrderSummary;
  customer_360: Customer360;
  product_stock: Record<string, unknown>;
  order_lines: Record<string, unknown>;
  places: { place: string; addresses: string };
};

/** Every sample of a Prometheus text by series (`name{labels}`). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('query API', () => {
  let env: SluiceEnv;
  let connector: RunningConnector;
  let api: QueryApi;
  const abort = new AbortController();
  let daemon: Promise<void>;
  let readsUrl: string;

  /** A fence after everything committed so far, reached by the API. */
  async function settled(): Promise<string> {
    const fence = await currentPosition({ query: (t) => env.sql(t) });
    await readModels<Models>(api.url).list('order_summary', {
      minPosition: fence,
      timeoutMs: 60_000,
      limit: 1,
    });
    return fence;
  }

  beforeAll(async () => {
    env = await startEnv();
    await seedShop(env.dbUrl, { customers: 120, products: 30, orders: 400, seed: 21 });
    readsUrl = await env.pg.createDatabase('reads');
    connector = env.startConnector(shopConnectorEnv());
    await waitSnapshotsDone(env);
    const cfg = parseReadModelsConfig(
      { readModels: MODELS },
      { SLUICE_NATS_URL: env.nats.url, SLUICE_READ_DATABASE_URL: readsUrl },
    );
    // One registry for the daemon and the API, as `sluice read-models run` has.
    const registry = createMetricsRegistry();
    daemon = runReadModels(cfg, silent, abort.signal, undefined, undefined, new ReadModelMetrics(registry));
    daemon.catch(() => undefined);
    api = await startQueryApi({
      registry,
      readDatabaseUrl: readsUrl,
      readModelsSchema: cfg.readModelsSchema,
      readModels: cfg.readModels,
      heartbeatRequests: { natsUrl: env.nats.url, prefix: cfg.prefix },
      fenceTimeoutMs: 5000,
      port: 0,
      host: '127.0.0.1',
    });
    await waitCaughtUp(env);
    await eventually(
      async () => {
        const r = await fetch(`${api.url}/read-models/order_lines?limit=1`);
        if (r.status !== 200) throw new Error(`order_lines: ${r.status}`);
        return true;
      },
      { timeout: 120_000, interval: 200, message: 'every model built' },
    );
  }, 300_000);

  async function scrape(): Promise<Map<string, number>> {
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    return samples(await res.text());
  }

  afterAll(async () => {
    await api?.close();
    abort.abort();
    await daemon?.catch(() => undefined);
    await connector?.stop().catch(() => undefined);
    await env?.close();
  });

  it('serves rows by key (single, composite, with a comma) in the lossless mapping, with an ETag', async () => {
    await settled();
    const [o] = (
      await env.sql<{ id: string; status: string; total: string; n: string }>(
        `SELECT o.id::text, o.status, o.total::text, (SELECT count(*) FROM order_items i WHERE i.order_id = o.id)::text AS n
         FROM orders o ORDER BY o.id DESC LIMIT 1`,
      )
    ).rows;
    const res = await fetch(`${api.url}/read-models/order_summary/rows/${o!.id}`);
    expect(res.status).toBe(200);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[0-9A-F]+\/[0-9A-F]+"$/);
    const row = (await res.json()) as OrderSummary;
    // int8 and numeric as strings, exactly as PostgreSQL prints them; jsonb as JSON.
    expect(row).toMatchObject({ order_id: o!.id, status: o!.status, total: o!.total, item_count: o!.n });
    expect(Array.isArray(row.items) || row.items === null).toBe(true);
    const again = await fetch(`${api.url}/read-models/order_summary/rows/${o!.id}`, {
      headers: { 'if-none-match': etag! },
    });
    expect(again.status).toBe(304);

    const [line] = (
      await env.sql<{ order_id: string; line_no: number; sku: string; unit_price: string }>(
        `SELECT i.order_id::text, i.line_no, p.sku, i.unit_price::text FROM order_items i JOIN products p ON p.id = i.product_id ORDER BY 1, 2 LIMIT 1`,
      )
    ).rows;
    const client = readModels<Models>(api.url);
    expect(await client.get('order_lines', [line!.order_id, line!.line_no])).toMatchObject({
      order_id: line!.order_id,
      line_no: line!.line_no,
      sku: line!.sku,
      unit_price: line!.unit_price,
    });
    const [place] = (
      await env.sql<{ place: string; n: string }>(
        `SELECT city || ', ' || country AS place, count(*)::text AS n FROM addresses GROUP BY 1 ORDER BY 1 LIMIT 1`,
      )
    ).rows;
    expect(place!.place).toContain(',');
    expect(await client.get('places', [place!.place])).toEqual({ place: place!.place, addresses: place!.n });
  });

  it('answers 404 for an unknown model or key and 400 for a value of the wrong type, each with the cause', async () => {
    const unknownModel = await fetch(`${api.url}/read-models/no_such_model/rows/1`);
    expect(unknownModel.status).toBe(404);
    expect(await unknownModel.json()).toMatchObject({ code: 'QUERY_UNKNOWN_MODEL' });
    const unknownKey = await fetch(`${api.url}/read-models/order_summary/rows/999999999`);
    expect(unknownKey.status).toBe(404);
    expect(await unknownKey.json()).toMatchObject({ code: 'QUERY_ROW_NOT_FOUND' });
    expect(await readModels<Models>(api.url).get('order_summary', ['999999999'])).toBeNull();
    const listUnknown = await fetch(`${api.url}/read-models/no_such_model`);
    expect(listUnknown.status).toBe(404);
    const badValue = await fetch(`${api.url}/read-models/order_summary/rows/abc`);
    expect(badValue.status).toBe(400);
    expect(((await badValue.json()) as { error: string }).error).toMatch(/bigint/);
    const badColumn = await fetch(`${api.url}/read-models/order_summary?colour=red`);
    expect(badColumn.status).toBe(400);
    expect(await badColumn.json()).toMatchObject({ code: 'QUERY_UNKNOWN_COLUMN' });
    const wrongArity = await fetch(`${api.url}/read-models/order_lines/rows/1`);
    expect(wrongArity.status).toBe(400);
    const badFence = await fetch(`${api.url}/read-models/order_summary?minPosition=yesterday`);
    expect(badFence.status).toBe(400);
  });

  it('describes every model in the OpenAPI document', async () => {
    const doc = (await readModels<Models>(api.url).openApi()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties: Record<string, { type?: unknown }> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const m of MODELS) {
      expect(doc.paths[`/read-models/${m.name}`], m.name).toBeDefined();
      expect(doc.paths[`/read-models/${m.name}/rows/{key}`], m.name).toBeDefined();
    }
    expect(Object.keys(doc.components.schemas.order_summary!.properties).sort()).toEqual(
      [
        'order_id',
        'status',
        'total',
        'placed_at',
        'customer_name',
        'customer_email',
        'item_count',
        'units',
        'items_total',
        'items',
      ].sort(),
    );
    expect(doc.components.schemas.order_summary!.properties.order_id!.type).toBe('string');
    expect(doc.components.schemas.order_lines!.properties.line_no!.type).toBe('integer');
  });

  it('filters and orders, and pages return every row once while writes happen', async () => {
    const client = readModels<Models>(api.url);
    // Filter and descending order, checked against the source at a settled position.
    await settled();
    const traffic = startTraffic(env, { rate: 150, seed: 5 });
    try {
      const fence = await currentPosition({ query: (t) => env.sql(t) });
      const before = new Set(
        (await env.sql<{ id: string }>('SELECT id::text FROM orders')).rows.map((r) => r.id),
      );
      const seen: string[] = [];
      let pages = 0;
      let cursor: string | undefined;
      for (;;) {
        const page = await client.list('order_summary', {
          limit: 37,
          ...(cursor ? { cursor } : { minPosition: fence, timeoutMs: 30_000 }),
        });
        seen.push(...page.rows.map((r) => r.order_id));
        pages++;
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      const after = new Set(
        (await env.sql<{ id: string }>('SELECT id::text FROM orders')).rows.map((r) => r.id),
      );
      const throughout = [...before].filter((id) => after.has(id));
      expect(pages).toBeGreaterThan(5);
      expect(new Set(seen).size, 'no row twice').toBe(seen.length);
      const got = new Set(seen);
      expect(
        throughout.filter((id) => !got.has(id)),
        'orders that existed throughout, missing',
      ).toEqual([]);
      expect(seen, 'in key order').toEqual([...seen].sort((a, b) => Number(a) - Number(b)));
    } finally {
      await traffic.stop();
    }
    const fence = await settled();
    const [c] = (
      await env.sql<{ customer_id: string }>(
        `SELECT customer_id::text FROM orders GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1`,
      )
    ).rows;
    const truth = (
      await env.sql<{ id: string }>(
        `SELECT o.id::text FROM orders o JOIN customers cu ON cu.id = o.customer_id
         WHERE cu.name = (SELECT name FROM customers WHERE id = $1) ORDER BY o.total DESC, o.id DESC`,
        [c!.customer_id],
      )
    ).rows.map((r) => r.id);
    const name = (
      await env.sql<{ name: string }>('SELECT name FROM customers WHERE id = $1', [c!.customer_id])
    ).rows[0]!.name;
    const rows: string[] = [];
    for await (const r of client.all('order_summary', {
      where: { customer_name: name },
      order: '-total',
      limit: 2,
      minPosition: fence,
    }))
      rows.push(r.order_id);
    expect(rows).toEqual(truth);
  });

  it('read-your-writes: a query with the fence of a commit always sees it, under shop traffic', async () => {
    const before = await scrape();
    const client = readModels<Models>(api.url);
    const ids = (
      await env.sql<{ id: string }>('SELECT id::text FROM customers ORDER BY id LIMIT 40')
    ).rows.map((r) => r.id);
    const traffic = startTraffic(env, { rate: 150, seed: 9 });
    const writers = 4;
    const stale: string[] = [];
    const waits: number[] = [];
    let overwritten = 0;
    const started = Date.now();
    try {
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const db = new pg.Client({ connectionString: env.dbUrl });
          await db.connect();
          try {
            for (let i = w; i < RYW_ITERATIONS; i += writers) {
              const id = ids[(i * 7) % ids.length]!;
              const name = `ryw ${i} ${Date.now()}`;
              await db.query('UPDATE customers SET name = $1 WHERE id = $2', [name, id]);
              const fence = await currentPosition(db);
              const t = Date.now();
              const row = await client.get('customer_360', [id], { minPosition: fence, timeoutMs: 30_000 });
              waits.push(Date.now() - t);
              if (row?.name !== name) {
                // The traffic renames customers too: the answer is stale only if the source, read
                // after the answer, still holds our name (then every position from our commit to
                // now had it).
                const now = await db.query<{ name: string }>('SELECT name FROM customers WHERE id = $1', [
                  id,
                ]);
                if (now.rows[0]?.name === name) stale.push(`${i}: customer ${id} ${row?.name} ≠ ${name}`);
                else overwritten++;
              }
            }
          } finally {
            await db.end();
          }
        }),
      );
    } finally {
      await traffic.stop();
    }
    waits.sort((a, b) => a - b);
    console.log(
      `read-your-writes: ${RYW_ITERATIONS} iterations in ${((Date.now() - started) / 1000).toFixed(1)} s, wait p50 ${waits[waits.length >> 1]} ms, p99 ${waits[Math.floor(waits.length * 0.99)]} ms, stale ${stale.length}, renamed by the traffic before the answer ${overwritten}`,
    );
    expect(waits.length).toBe(RYW_ITERATIONS);
    expect(stale).toEqual([]);
    // The API timed each fence it waited for: one sample per request, never longer than the client saw.
    const after = await scrape();
    const fences = (k: string) => after.get(k)! - (before.get(k) ?? 0);
    expect(fences('sluice_query_api_fence_wait_seconds_count{outcome="reached"}')).toBe(RYW_ITERATIONS);
    expect(fences('sluice_query_api_fence_wait_seconds_sum{outcome="reached"}')).toBeLessThanOrEqual(
      // Date.now() differences are whole milliseconds: up to 1 ms short each.
      (waits.reduce((a, b) => a + b, 0) + RYW_ITERATIONS) / 1000,
    );
  }, 600_000);

  it('a fence on an idle database returns within a second (heartbeats on request), a fence past the source 504s', async () => {
    // The connector runs with the default heartbeat interval (5 s): only a requested heartbeat can
    // move the position past a fresh fence within a second.
    await settled();
    await waitCaughtUp(env);
    const client = readModels<Models>(api.url);
    const took: number[] = [];
    const product = (await env.sql(`SELECT product_id FROM inventory ORDER BY 1 LIMIT 1`)).rows[0]!
      .product_id as string;
    for (let i = 0; i < 6; i++) {
      // Half the fences follow a write (its delta is published, so the next timed heartbeat would
      // be skipped), half are taken on a database with nothing new at all.
      const stock = 1000 + i;
      if (i % 2 === 0)
        await env.sql(`UPDATE inventory SET quantity = ${stock} WHERE product_id = '${product}'`);
      const fence = await currentPosition({ query: (t) => env.sql(t) });
      const t = Date.now();
      const row = await client.get('product_stock', [product], { minPosition: fence });
      took.push(Date.now() - t);
      if (i % 2 === 0) expect(Number(row?.in_stock), `the write before fence ${fence}`).toBe(stock);
    }
    console.log(`idle fences answered after ${took.join(', ')} ms`);
    for (const ms of took) expect(ms, `an idle fence answered after ${ms} ms`).toBeLessThan(1000);
    // A position the source has not reached: 504 with where the model stands.
    const err = await client
      .list('product_stock', { minPosition: 'FFFFFFF/0', timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryApiError);
    expect((err as QueryApiError).status).toBe(504);
    expect((err as QueryApiError).currentPosition).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  });

  it("an enricher's ctx.readModels sees at least the transaction it enriches", async () => {
    await settled();
    const enricher = defineEnricher({
      name: 'rm-lookups',
      domain: 'rmtest',
      tables: ['public.orders'],
      ops: ['insert'],
      start: 'now',
      readModels: { databaseUrl: readsUrl },
      contracts: {
        'order.counted': z.object({ order_id: z.string(), order_count: z.string(), listed: z.number() }),
      },
      async enrich(delta, ctx) {
        const order = String(delta.data.key!.id);
        const customer = String(delta.data.changes.customer_id!.new);
        // By key, and by a non-key column (what facts cannot answer).
        const c = (await ctx.readModels.get('customer_360', { customer_id: customer })) as Customer360 | null;
        const mine = await ctx.readModels.list('order_summary', { order_id: order, customer_name: c?.name });
        return {
          type: 'order.counted',
          data: { order_id: order, order_count: c!.order_count, listed: mine.length },
        };
      },
    });
    const stop = new AbortController();
    const runner = new ConsumerRunner(enricher, {
      client: await JetStreamClient.create(env.nc),
      prefix: 'cdc',
    });
    const running = runner.run(stop.signal);
    try {
      await eventually(() => runner.state === 'running', { timeout: 30_000, message: 'the enricher to run' });
      const customers = (await env.sql<{ id: string }>(`SELECT id::text FROM customers ORDER BY id LIMIT 3`))
        .rows;
      // The truth: each customer's order count on the source right after each commit.
      const expected = new Map<string, bigint>();
      for (let i = 0; i < 30; i++) {
        const cust = customers[i % 3]!.id;
        const { rows } = await env.sql<{ id: string; n: string }>(
          `WITH o AS (INSERT INTO orders (customer_id, status, total) VALUES (${cust}, 'pending', 10) RETURNING id)
           SELECT o.id::text, (SELECT count(*) FROM orders WHERE customer_id = ${cust}) + 1 AS n FROM o`,
        );
        expected.set(rows[0]!.id, BigInt(rows[0]!.n));
      }
      let events: { data: { order_id: string; order_count: string; listed: number } }[] = [];
      await eventually(
        async () => {
          const msgs = await readStream(env.nc, 'CDC_EVENTS', { filter: 'cdc.events.rmtest.>' });
          events = msgs.map((m) => m.data as (typeof events)[number]);
          return events.length >= expected.size;
        },
        { timeout: 60_000, interval: 200, message: 'an event for every order' },
      );
      expect(events.map((e) => e.data.order_id).sort()).toEqual([...expected.keys()].sort());
      for (const e of events) {
        // At least as new as its own transaction: the count includes the order, and the order's row is there.
        expect(BigInt(e.data.order_count), `order ${e.data.order_id}`).toBeGreaterThanOrEqual(
          expected.get(e.data.order_id)!,
        );
        expect(e.data.listed, `order ${e.data.order_id} listed`).toBe(1);
      }
    } finally {
      stop.abort();
      await running;
    }
  });

  it('metrics: facts applied, keys recomputed, commit → model latency, lag back to 0, request durations', async () => {
    const before = await scrape();
    const jsm = await jetstreamManager(env.nc);
    const seqBefore = (await jsm.streams.info('CDC_FACTS')).state.last_seq;
    const traffic = startTraffic(env, { rate: 200, seed: 31 });
    await eventually(async () => traffic.changes() >= 300 || Promise.reject(new Error('traffic')), {
      timeout: 60_000,
    });
    const stats = await traffic.stop();
    await waitCaughtUp(env);
    await settled();
    // Caught up: the applied sequence is the facts stream's last one, read from the server.
    const m = await eventually(
      async () => {
        const g = await scrape();
        const last = (await jsm.streams.info('CDC_FACTS')).state.last_seq;
        if (g.get('sluice_read_model_lag_facts') !== 0 || g.get('sluice_read_model_applied_seq') !== last)
          throw new Error(
            `lag ${g.get('sluice_read_model_lag_facts')}, applied ${g.get('sluice_read_model_applied_seq')} of ${last}`,
          );
        return g;
      },
      { timeout: 60_000, interval: 500, message: 'read-model lag back to 0' },
    );
    const seqAfter = (await jsm.streams.info('CDC_FACTS')).state.last_seq;
    const grew = (name: string) => (m.get(name) ?? 0) - (before.get(name) ?? 0);
    const applied = [...m.keys()]
      .filter((k) => k.startsWith('sluice_read_model_facts_applied_total{'))
      .reduce((a, k) => a + grew(k), 0);
    // Every fact published since is applied once, unless a later fact of its row replaced it in
    // the compacted stream before the daemon read it.
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThanOrEqual(seqAfter - seqBefore);
    expect(grew('sluice_read_model_facts_applied_total{table="public.orders"}')).toBeGreaterThan(0);
    expect(grew('sluice_read_model_keys_recomputed_total{model="order_summary"}')).toBeGreaterThan(0);
    expect(grew('sluice_read_model_apply_seconds_count')).toBeGreaterThan(0);
    // One sample per applied source transaction: at most one per traffic operation and heartbeat.
    const latencies = grew('sluice_read_model_commit_latency_seconds_count');
    expect(latencies).toBeGreaterThan(0);
    expect(grew('sluice_read_model_commit_latency_seconds_sum')).toBeGreaterThan(0);
    const p = (q: number) =>
      [...m.entries()]
        .filter(([k]) => k.startsWith('sluice_read_model_commit_latency_seconds_bucket'))
        .map(([k, v]) => ({ le: Number(/le="([^"]+)"/.exec(k)![1]), n: v }))
        .sort((a, b) => a.le - b.le)
        .find((b) => b.n >= q * m.get('sluice_read_model_commit_latency_seconds_count')!)?.le;
    console.log(
      `read-model metrics: ${stats.ops} transactions, ${applied} facts applied (${seqAfter - seqBefore} published), ` +
        `${latencies} latency samples, commit→model p50 ≤ ${p(0.5)} s, p99 ≤ ${p(0.99)} s`,
    );
    expect(
      m.get('sluice_query_api_request_duration_seconds_count{route="/read-models/:name",status="200"}'),
    ).toBeGreaterThan(0);
    expect(
      m.get('sluice_query_api_request_duration_seconds_count{route="/read-models/:name",status="504"}'),
    ).toBeGreaterThan(0);
    expect(m.get('sluice_query_api_fence_timeouts_total')).toBeGreaterThan(0);
  });

  it('sluice read-models serve answers on SLUICE_HTTP_PORT and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-qa-'));
    const file = join(dir, 'sluice.yaml');
    writeFileSync(file, stringify({ readDatabaseUrl: readsUrl, readModels: MODELS }));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', 'read-models', 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        SLUICE_CONFIG: file,
        SLUICE_NATS_URL: env.nats.url,
        SLUICE_HTTP_PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = `http://127.0.0.1:${port}`;
      await eventually(
        async () => {
          const r = await fetch(`${url}/healthz`);
          if (r.status !== 200) throw new Error(`healthz ${r.status}`);
          return true;
        },
        { timeout: 60_000, interval: 200, message: `serve listening (${out})` },
      );
      await settled();
      // A fresh fence on the idle source: this process asks the connector for a heartbeat too.
      const fence = await currentPosition({ query: (t) => env.sql(t) });
      const t = Date.now();
      const page = await readModels<Models>(url).list('product_stock', { minPosition: fence, limit: 5 });
      expect(Date.now() - t, 'a fence through "read-models serve"').toBeLessThan(1000);
      expect(page.rows.length).toBe(5);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/sluice_read_model_position_lsn\{model="product_stock"\} \d+/);
      expect(metrics).toMatch(/sluice_query_api_fence_waits_total 1/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, out).toBe(0);
  });
});
