/**
 * The consumer runtime against real servers: a connector in this process publishes the shop's
 * changes, consumers run in this process too. The truth is what PostgreSQL committed (the shadow
 * audit of faults-helpers.ts) and what the deltas stream holds.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withContext } from '../../client/index.js';
import { eventually, type StreamMessage } from '../harness/index.js';
import pg from 'pg';
import {
  defineConsumer,
  defineProjection,
  upsertIfNewer,
  type ConsumerDefinition,
} from '../../consumers/index.js';
import { ConsumerRunner } from '../../consumers/runtime/consumer-runner.js';
import { JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { DeadLetterStore } from '../../consumers/runtime/dead-letters.js';
import { listConsumers, resetConsumer } from '../../consumers/runtime/consumer-admin.js';
import type { DeltaEvent } from '../../schemas/events.js';
import { parseLsn } from '../../schemas/versions.js';
import { startEnv, type SluiceEnv } from './env.js';
import {
  auditCounts,
  prng,
  seedShopWithAudit,
  shopConnectorEnv,
  startTraffic,
  tableRows,
  waitCaughtUp,
  waitSnapshotsDone,
} from './faults-helpers.js';

let env: SluiceEnv;
let client: JetStreamClient;
const runners: { stop(): Promise<void> }[] = [];

function start(def: ConsumerDefinition): {
  runner: ConsumerRunner;
  done: Promise<void>;
  stop(): Promise<void>;
} {
  const runner = new ConsumerRunner(def, { client, prefix: 'cdc' });
  const abort = new AbortController();
  const done = runner.run(abort.signal);
  done.catch(() => undefined);
  const r = {
    runner,
    done,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
  runners.push(r);
  return r;
}

/** Deltas in the stream (commit markers excluded). */
async function streamDeltas(): Promise<StreamMessage[]> {
  return (await env.deltas()).filter((m) => m.subject.startsWith('cdc.delta.'));
}

/** Committed row changes per `schema.table.op` from the shadow audit. */
async function committed(): Promise<Record<string, number>> {
  const a = await auditCounts(env);
  return Object.fromEntries(Object.entries(a).map(([k, n]) => [`public.${k}`, n]));
}

function countBy<T>(xs: Iterable<T>, f: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[f(x)] = (out[f(x)] ?? 0) + 1;
  return out;
}

const keyOf = (e: DeltaEvent) => `${e.data.table}/${JSON.stringify(e.data.key)}`;

beforeAll(async () => {
  env = await startEnv();
  await seedShopWithAudit(env, { customers: 300, products: 60, orders: 150 });
  env.startConnector(shopConnectorEnv());
  await waitSnapshotsDone(env);
  client = await JetStreamClient.create(env.nc);
});

afterAll(async () => {
  for (const r of runners) await r.stop().catch(() => undefined);
  await env?.close();
});

describe('consumer runtime', () => {
  it('keeps per-key order at concurrency 64 with random handler delays, and handles every committed change once', async () => {
    const rnd = prng(9);
    const handled: DeltaEvent[] = [];
    const busy = new Set<string>();
    const lastVersion = new Map<string, string>();
    const violations: string[] = [];
    let maxParallel = 0;
    const r = start(
      defineConsumer({
        name: 'order-check',
        from: 'deltas',
        concurrency: 64,
        async handle(e) {
          const k = keyOf(e);
          if (busy.has(k)) violations.push(`${k} handled twice at once`);
          busy.add(k);
          maxParallel = Math.max(maxParallel, busy.size);
          const prev = lastVersion.get(k);
          // Keyless rows (audit_log) have no order between them; every keyed entity must rise.
          if (e.data.key && prev !== undefined && prev >= e.data.version)
            violations.push(`${k}: ${e.data.version} after ${prev}`);
          await new Promise((res) => setTimeout(res, Math.floor(rnd() * 8)));
          lastVersion.set(k, e.data.version);
          handled.push(e);
          busy.delete(k);
        },
      }),
    );
    const traffic = startTraffic(env, { rate: 400, seed: 11 });
    await eventually(() => traffic.changes() > 1500, { timeout: 60_000, interval: 100, message: 'traffic' });
    await traffic.stop();
    await waitCaughtUp(env);
    const deltas = await streamDeltas();
    await eventually(() => handled.length >= deltas.length, {
      timeout: 90_000,
      interval: 200,
      message: `${deltas.length} deltas handled`,
    });
    expect(violations).toEqual([]);
    expect(maxParallel).toBeGreaterThan(8);
    const ids = handled.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(deltas.map((m) => (m.data as { id: string }).id)));
    expect(countBy(handled, (e) => `${e.data.table}.${e.data.op}`)).toEqual(await committed());
    expect(r.runner.metrics.processed).toBe(handled.length);
    await r.stop();
  });

  it('dead-letters a poison event after maxDeliver attempts while other keys flow; redrive handles it once; drop records', async () => {
    const poisonId = (
      await env.sql<{ id: string }>(
        `INSERT INTO customers (email, name) VALUES ('poison@example.com', 'Poison Ivy') RETURNING id::text AS id`,
      )
    ).rows[0]!.id;
    const ours = ['POISON', 'after poison', 'POISON FOREVER'];
    let fixed = false;
    const attempts: number[] = [];
    const handledAt = new Map<string, number>();
    const handledPerId = new Map<string, number>();
    const poisonOrder: string[] = [];
    const r = start(
      defineConsumer({
        name: 'poison-check',
        from: 'deltas',
        tables: ['public.customers', 'public.orders'],
        maxDeliver: 3,
        backoff: [400],
        concurrency: 8,
        handle(e, ctx) {
          const name = (e.data.changes.name?.new ?? null) as string | null;
          if (e.data.table === 'public.customers' && name && ours.includes(name)) poisonOrder.push(name);
          if ((name === 'POISON' && !fixed) || name === 'POISON FOREVER') {
            attempts.push(ctx.attempt);
            throw new Error(`cannot handle ${name}`);
          }
          handledAt.set(e.id, Date.now());
          handledPerId.set(e.id, (handledPerId.get(e.id) ?? 0) + 1);
        },
      }),
    );
    const traffic = startTraffic(env, { rate: 200, seed: 12 });
    await env.sql(`UPDATE customers SET name = 'POISON' WHERE id = $1`, [poisonId]);
    await env.sql(`UPDATE customers SET name = 'after poison' WHERE id = $1`, [poisonId]);
    await env.sql(`UPDATE customers SET name = 'POISON FOREVER' WHERE id = $1`, [poisonId]);
    const dlq = new DeadLetterStore(client, 'cdc');
    const entries = await eventually(
      async () => {
        const l = await dlq.list('poison-check');
        if (l.length < 2) throw new Error(`${l.length} dead letters`);
        return l;
      },
      { timeout: 60_000, interval: 200, message: 'two dead letters' },
    );
    await traffic.stop();
    await waitCaughtUp(env);

    // Each poison event was tried exactly maxDeliver times, then dead-lettered with its record.
    expect(attempts).toEqual([1, 2, 3, 1, 2, 3]);
    expect(entries).toHaveLength(2);
    const [first, second] = entries as [(typeof entries)[0], (typeof entries)[0]];
    expect(first).toMatchObject({
      consumer: 'poison-check',
      stream: 'CDC_DELTAS',
      attempts: 3,
      error: { message: 'cannot handle POISON' },
    });
    expect(first.error.stack).toContain('cannot handle POISON');
    expect(first.attemptTimes).toHaveLength(3);
    expect((first.event as DeltaEvent).data.changes.name?.new).toBe('POISON');
    expect(first.subject).toBe(`cdc.delta.public.customers.update.${poisonId}`);
    const stored = await client.getMessage('CDC_DELTAS', first.sequence);
    expect(JSON.parse(new TextDecoder().decode(stored!.data))).toEqual(first.event);
    // Skip and continue: the key's next event was handled after the poison, in order.
    expect(poisonOrder).toEqual([
      'POISON',
      'POISON',
      'POISON',
      'after poison',
      'POISON FOREVER',
      'POISON FOREVER',
      'POISON FOREVER',
    ]);
    // Other keys kept flowing while the poison waited out its retries.
    const poisonVersion = (first.event as DeltaEvent).data.version;
    const deltas = await streamDeltas();
    const laterOthers = deltas.filter((m) => {
      const d = (m.data as DeltaEvent).data;
      return d.version > poisonVersion && handledAt.has((m.data as DeltaEvent).id);
    });
    expect(
      laterOthers.some((m) => handledAt.get((m.data as DeltaEvent).id)! < Date.parse(first.deadLetteredAt)),
    ).toBe(true);

    // Redrive after the fix: handled exactly once, even when asked twice.
    fixed = true;
    await dlq.requestRedrive('poison-check', first.id);
    await dlq.requestRedrive('poison-check', first.id);
    const poisonEventId = (first.event as DeltaEvent).id;
    await eventually(() => handledPerId.get(poisonEventId) === 1, {
      timeout: 30_000,
      interval: 100,
      message: 'the redriven event handled',
    });
    await eventually(async () => (await dlq.list('poison-check')).length === 1, {
      timeout: 30_000,
      interval: 100,
      message: 'the entry resolved',
    });
    expect((await dlq.redriven('poison-check')).map((x) => x.entry)).toEqual([first.id]);
    expect(r.runner.metrics.redriven).toBe(1);

    // Drop: gone from the open ones, recorded with its time.
    await dlq.drop(await dlq.require('poison-check', second.id));
    expect(await dlq.list('poison-check')).toEqual([]);
    const dropped = await dlq.dropped('poison-check');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({
      id: second.id,
      sequence: second.sequence,
      error: { message: 'cannot handle POISON FOREVER' },
    });
    expect(Date.parse(dropped[0]!.droppedAt)).toBeGreaterThanOrEqual(Date.parse(second.deadLetteredAt));
    // A redrive of a dropped entry does nothing.
    await dlq.requestRedrive('poison-check', second.id);
    await eventually(
      async () => {
        const c = await client.durableInfo('CDC_DLQ', 'poison-check_redrive');
        if (!c || c.num_pending > 0 || c.num_ack_pending > 0)
          throw new Error('redrive request not handled yet');
        return true;
      },
      { timeout: 30_000, interval: 100, message: 'the redrive request of a dropped entry acknowledged' },
    );
    expect(handledPerId.get((second.event as DeltaEvent).id)).toBeUndefined();
    expect(Math.max(...handledPerId.values())).toBe(1);
    const status = (await listConsumers(client, 'cdc')).find((s) => s.name === 'poison-check')!;
    expect(status).toMatchObject({ stream: 'CDC_DELTAS', deadLetters: 0 });
    await r.stop();
  });

  it('handleTransaction gets every transaction whole, once, in commit order, also across retries', async () => {
    const rnd = prng(5);
    const tables = ['public.orders', 'public.order_items'];
    const seen: { lsn: string; ids: string[] }[] = [];
    const problems: string[] = [];
    let failures = 0;
    const r = start(
      defineConsumer({
        name: 'tx-check',
        from: 'deltas',
        tables,
        backoff: [50],
        handleTransaction(events, ctx) {
          const m = ctx.transaction.marker.data;
          for (const t of tables) {
            const n = events.filter((e) => e.data.table === t).length;
            if (n !== (m.tables[t] ?? 0))
              problems.push(`tx ${m.id}: ${n} events of ${t}, marker says ${m.tables[t] ?? 0}`);
          }
          if (
            events.some(
              (e, i) => e.data.tx.lsn !== m.lsn || (i > 0 && e.data.tx.seq <= events[i - 1]!.data.tx.seq),
            )
          ) {
            problems.push(`tx ${m.id}: events of another transaction or out of tx.seq order`);
          }
          if (ctx.attempt === 1 && rnd() < 0.2) {
            failures++;
            throw new Error('fails once');
          }
          seen.push({ lsn: m.lsn, ids: events.map((e) => e.id) });
        },
      }),
    );
    const traffic = startTraffic(env, { rate: 300, seed: 13 });
    await eventually(() => traffic.changes() > 600, { timeout: 60_000, interval: 100, message: 'traffic' });
    await traffic.stop();
    await waitCaughtUp(env);
    const deltas = (await streamDeltas()).filter((m) => tables.includes((m.data as DeltaEvent).data.table));
    await eventually(() => seen.flatMap((t) => t.ids).length >= deltas.length, {
      timeout: 90_000,
      interval: 200,
      message: `${deltas.length} deltas in whole transactions`,
    });
    expect(problems).toEqual([]);
    expect(failures).toBeGreaterThan(0);
    const lsns = seen.map((t) => parseLsn(t.lsn));
    expect(lsns.every((l, i) => i === 0 || l > lsns[i - 1]!)).toBe(true);
    expect(seen.flatMap((t) => t.ids)).toEqual(deltas.map((m) => (m.data as DeltaEvent).id));
    await r.stop();
  });

  it('ctx.once runs a side effect once across retries, and upsertIfNewer makes a replay change nothing', async () => {
    const rnd = prng(3);
    const readUrl = await env.pg.createDatabase();
    const read = new pg.Pool({ connectionString: readUrl, max: 4 });
    await read.query(
      `CREATE TABLE customers_view (id text PRIMARY KEY, name text, email text, deleted boolean NOT NULL, version text NOT NULL)`,
    );
    const sideEffects: string[] = [];
    let writes = 0;
    let failures = 0;
    const caughtUp = (name: string) =>
      eventually(
        async () => {
          const s = (await listConsumers(client, 'cdc')).find((c) => c.name === name);
          if (!s || s.pending > 0 || s.ackPending > 0)
            throw new Error(`consumer ${name}: ${JSON.stringify(s)}`);
          return true;
        },
        { timeout: 60_000, interval: 200, message: `${name} caught up` },
      );
    const def = defineConsumer({
      name: 'idem-check',
      from: 'facts',
      tables: ['public.customers'],
      backoff: [50],
      async handle(e, ctx) {
        const row = e.data.row as { id: string; name: string; email: string };
        const wrote = await upsertIfNewer(
          read,
          'customers_view',
          { id: row.id },
          { name: row.name, email: row.email, deleted: e.data.deleted },
          e.data.version,
        );
        if (wrote) writes++;
        await ctx.once(e.id, () => void sideEffects.push(e.id));
        if (ctx.attempt === 1 && rnd() < 0.3) {
          failures++;
          throw new Error('fails after its side effect');
        }
      },
    });
    try {
      let r = start(def);
      await caughtUp('idem-check');
      await r.stop();
      expect(failures).toBeGreaterThan(10);
      expect(new Set(sideEffects).size).toBe(sideEffects.length);
      const view = await read.query<{ id: string; name: string; email: string }>(
        'SELECT id, name, email FROM customers_view WHERE NOT deleted ORDER BY id',
      );
      const source = await env.sql<{ id: string; name: string; email: string }>(
        'SELECT id::text AS id, name, email FROM customers ORDER BY id::text',
      );
      expect(view.rows).toEqual(source.rows);
      expect(writes).toBe(sideEffects.length);

      const before = { writes, effects: sideEffects.length };
      await resetConsumer(client, 'cdc', 'idem-check', { kind: 'beginning' });
      r = start(def);
      await caughtUp('idem-check');
      await r.stop();
      expect({ writes, effects: sideEffects.length }).toEqual(before);
      expect(r.runner.metrics.processed).toBeGreaterThanOrEqual(source.rows.length);
    } finally {
      await read.end();
    }
  });

  it('defineProjection keeps one document per key equal to the source, and a replay changes nothing', async () => {
    const readUrl = await env.pg.createDatabase();
    const read = new pg.Pool({ connectionString: readUrl, max: 2 });
    type Doc = Record<string, string>;
    const def = defineProjection<Doc, 'facts'>({
      name: 'customer-orders',
      database: readUrl,
      from: 'facts',
      tables: ['public.orders'],
      key: (e) => (e.data.row as { customer_id?: string } | null)?.customer_id,
      evolve(doc, e) {
        const next = { ...(doc ?? {}) };
        const id = String(e.data.key.id);
        if (e.data.deleted) delete next[id];
        else next[id] = (e.data.row as { status: string }).status;
        return next;
      },
    });
    const caughtUp = () =>
      eventually(
        async () => {
          const s = (await listConsumers(client, 'cdc')).find((c) => c.name === 'customer-orders');
          if (!s || s.pending > 0 || s.ackPending > 0) throw new Error(JSON.stringify(s));
          return true;
        },
        { timeout: 90_000, interval: 200, message: 'the projection caught up' },
      );
    const docs = async () =>
      (
        await read.query<{ key: string; doc: Doc }>(
          `SELECT key, doc FROM projections."customer-orders" WHERE doc <> '{}'::jsonb ORDER BY key`,
        )
      ).rows;
    const truth = async () =>
      (
        await env.sql<{ key: string; doc: Doc }>(
          `SELECT customer_id::text AS key, jsonb_object_agg(id::text, status::text) AS doc
             FROM orders GROUP BY customer_id ORDER BY customer_id::text`,
        )
      ).rows;
    try {
      let r = start(def);
      await caughtUp();
      await r.stop();
      const first = await docs();
      expect(first.length).toBeGreaterThan(50);
      expect(first).toEqual(await truth());
      const pos = await read.query<{ stream: string; sequence: string }>(
        `SELECT stream, sequence FROM projections._positions WHERE name = 'customer-orders'`,
      );
      expect(pos.rows[0]!.stream).toBe('CDC_FACTS');
      const updatedBefore = (
        await read.query<{ t: string }>(
          `SELECT max(updated_at)::text AS t FROM projections."customer-orders"`,
        )
      ).rows[0]!.t;
      await resetConsumer(client, 'cdc', 'customer-orders', { kind: 'beginning' });
      r = start(def);
      await caughtUp();
      await r.stop();
      expect(await docs()).toEqual(first);
      // Every replayed event was recognised as applied: no document was written again.
      expect(
        (
          await read.query<{ t: string }>(
            `SELECT max(updated_at)::text AS t FROM projections."customer-orders"`,
          )
        ).rows[0]!.t,
      ).toBe(updatedBefore);
    } finally {
      await read.end();
    }
  });

  it("puts the trace id of an event's application context on the runtime's log lines about it", async () => {
    const lines: { msg: string; traceId?: string; subject?: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as (typeof lines)[0]);
          cb();
        },
      }),
    );
    const [traced, plain] = (
      await env.sql<{ id: string }>('SELECT id::text FROM customers ORDER BY id LIMIT 2')
    ).rows.map((r) => r.id) as [string, string];
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const seen = new Set<string>();
    const runner = new ConsumerRunner(
      defineConsumer({
        name: 'trace-logs',
        from: 'deltas',
        tables: ['public.customers'],
        start: 'now',
        backoff: [50],
        handle(e, ctx) {
          const id = String(e.data.key!.id);
          if (id !== traced && id !== plain) return;
          ctx.log.info({ id }, 'handling');
          // Fail the first attempt: the runtime's own retry line is about this message too.
          if (!seen.has(id)) {
            seen.add(id);
            throw new Error('first attempt fails');
          }
        },
      }),
      { client, prefix: 'cdc', log },
    );
    const abort = new AbortController();
    const done = runner.run(abort.signal);
    runners.push({ stop: async () => (abort.abort(), await done) });
    await eventually(() => runner.state === 'running', { timeout: 30_000, message: 'runner running' });
    const db = new pg.Client({ connectionString: env.dbUrl });
    await db.connect();
    try {
      await withContext(db, { userId: 'u-17', traceId }, (tx) =>
        tx.query("UPDATE customers SET name = name || ' t' WHERE id = $1", [traced]),
      );
      await db.query("UPDATE customers SET name = name || ' p' WHERE id = $1", [plain]);
    } finally {
      await db.end();
    }
    const about = (id: string, msg: string) =>
      lines.filter((l) => l.msg === msg && (l as { id?: string }).id === id);
    await eventually(() => about(plain, 'handling').length >= 2 && about(traced, 'handling').length >= 2, {
      timeout: 30_000,
      message: 'both events handled after a retry',
    });
    for (const l of about(traced, 'handling')) expect(l.traceId).toBe(traceId);
    for (const l of about(plain, 'handling')) expect(l).not.toHaveProperty('traceId');
    const retries = lines.filter((l) => l.msg === 'handler failed; retrying');
    expect(retries.map((l) => l.traceId).sort()).toEqual([traceId, undefined]);
    abort.abort();
    await done;
  });

  it("start: 'facts' hands the current rows first, then follows the deltas: the state equals the table", async () => {
    type Held = { row: Record<string, unknown> | null; version: string };
    const state = new Map<string, Held>();
    let facts = 0;
    let deltas = 0;
    const apply = (
      key: string,
      version: string,
      next: (held: Held | undefined) => Record<string, unknown> | null,
    ) => {
      const held = state.get(key);
      if (held && held.version >= version) return;
      state.set(key, { row: next(held), version });
    };
    const traffic = startTraffic(env, { rate: 300, seed: 14 });
    const r = start(
      defineConsumer({
        name: 'facts-first',
        from: 'deltas',
        tables: ['public.customers'],
        start: 'facts',
        concurrency: 32,
        handle(e) {
          const key = JSON.stringify(e.data.key);
          if (e.type === 'io.sluice.fact') {
            facts++;
            const f = e as unknown as import('../../schemas/events.js').FactEvent;
            apply(key, f.data.version, () => (f.data.deleted ? null : f.data.row));
            return;
          }
          deltas++;
          const d = e as DeltaEvent;
          apply(key, d.data.version, (held) => {
            if (d.data.op === 'delete') return null;
            const row: Record<string, unknown> = { ...(d.data.op === 'insert' ? {} : (held?.row ?? {})) };
            for (const [c, ch] of Object.entries(d.data.changes)) row[c] = ch.new;
            return row;
          });
        },
      }),
    );
    await eventually(async () => (await listConsumers(client, 'cdc')).some((c) => c.name === 'facts-first'), {
      timeout: 60_000,
      interval: 100,
      message: 'the facts to be handled and the durable consumer created',
    });
    const changed = traffic.changes();
    await eventually(() => traffic.changes() > changed + 400, {
      timeout: 60_000,
      interval: 100,
      message: 'traffic after the facts',
    });
    await traffic.stop();
    await waitCaughtUp(env);
    await eventually(
      async () => {
        const s = (await listConsumers(client, 'cdc')).find((c) => c.name === 'facts-first');
        if (!s || s.pending > 0 || s.ackPending > 0) throw new Error(JSON.stringify(s));
        return true;
      },
      { timeout: 60_000, interval: 200, message: 'facts-first caught up' },
    );
    await r.stop();
    expect(facts).toBeGreaterThanOrEqual(300);
    expect(deltas).toBeGreaterThan(0);
    const { rows } = await tableRows(env, 'customers');
    const live = new Map(
      [...state].filter(([, h]) => h.row).map(([, h]) => [JSON.stringify([h.row!.id]), h.row]),
    );
    expect(live.size).toBe(rows.size);
    for (const [k, row] of rows) expect(live.get(k), k).toEqual(row);
  });

  it('reset and replay rebuild the same state', async () => {
    const build = async (name: string): Promise<Map<string, unknown>> => {
      const state = new Map<string, unknown>();
      const r = start(
        defineConsumer({
          name,
          from: 'facts',
          tables: ['public.customers', 'public.products'],
          concurrency: 32,
          handle(e) {
            if (e.data.deleted) state.delete(`${e.data.table}/${JSON.stringify(e.data.key)}`);
            else state.set(`${e.data.table}/${JSON.stringify(e.data.key)}`, e.data.row);
          },
        }),
      );
      await eventually(
        async () => {
          const s = (await listConsumers(client, 'cdc')).find((c) => c.name === name);
          if (!s || s.pending > 0 || s.ackPending > 0)
            throw new Error(`consumer ${name}: ${JSON.stringify(s)}`);
          return true;
        },
        { timeout: 60_000, interval: 200, message: `${name} caught up` },
      );
      await r.stop();
      return state;
    };
    const first = await build('replay-check');
    expect(first.size).toBeGreaterThan(300);
    const status = await resetConsumer(client, 'cdc', 'replay-check', { kind: 'beginning' });
    expect(status.position).toBe(0);
    const again = await build('replay-check');
    expect(again).toEqual(first);
    // And the state is the source's: customers as the table holds them now.
    const { rows } = await tableRows(env, 'customers');
    const customers = new Map(
      [...first]
        .filter(([k]) => k.startsWith('public.customers/'))
        .map(([, row]) => [JSON.stringify([(row as { id: string }).id]), row]),
    );
    expect(customers.size).toBe(rows.size);
    for (const [k, row] of rows) expect(customers.get(k), k).toEqual(row);
  });
});
