/**
 * Read models against real servers: the shop on PostgreSQL with the connector running, the read
 * database as a second database (`reads`) on the same server. At every quiet point (connector caught
 * up, every model's position at the facts stream's end) each model must equal its own SQL run on
 * the source database, compared as text rows sorted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, type RunningConnector, type SluiceEnv } from './env.js';
import {
  prng,
  shopConnectorEnv,
  startTraffic,
  streamInfo,
  waitCaughtUp,
  waitSnapshotsDone,
  faultDelay,
} from './faults-helpers.js';
import { seedShop } from '../../examples/shop/seed.js';
import { shopReadModels, type ShopReadModel } from '../../examples/shop/read-models.js';
import { parseReadModelsConfig, type ReadModelsConfig } from '../../consumers/read-models/config.js';
import { runReadModels } from '../../consumers/read-models/daemon.js';
import { rebuildReadModel } from '../../consumers/read-models/rebuild.js';
import { collectReadModelsStatus } from '../../consumers/read-models/status.js';
import { ReadModelError } from '../../consumers/read-models/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED = Number(process.env.SLUICE_FAULT_SEED ?? Date.now() % 100_000);

/** Models beyond the shop's three that exercise the traps: an anti-join and an expression key. */
const EXTRA_MODELS: ShopReadModel[] = [
  {
    name: 'customers_without_orders',
    key: ['id'],
    sql: `SELECT c.id, c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE o.id IS NULL`,
  },
  {
    name: 'addresses_by_place',
    key: ['place'],
    sql: `SELECT a.country || ':' || a.city AS place, count(*) AS addresses, count(DISTINCT a.customer_id) AS customers
          FROM addresses a GROUP BY 1`,
  },
  {
    name: 'order_lines',
    key: ['order_id', 'line_no'],
    sql: `SELECT i.order_id, i.line_no, p.sku, p.name AS product, cu.email
          FROM order_items i JOIN products p ON p.id = i.product_id
          JOIN orders o ON o.id = i.order_id JOIN customers cu ON cu.id = o.customer_id
          WHERE i.quantity > 0`,
  },
];
const MODELS = [...shopReadModels, ...EXTRA_MODELS];
const silent = { info: () => undefined, warn: () => undefined, debug: () => undefined };

describe('read models', () => {
  let env: SluiceEnv;
  let readsUrl: string;
  let reads: pg.Pool;
  let connector: RunningConnector;
  let seededMaxOrder = 0;

  const config = (
    models: readonly ShopReadModel[] = MODELS,
    extra: Record<string, string> = {},
  ): ReadModelsConfig =>
    parseReadModelsConfig(
      { readModels: models },
      { SLUICE_NATS_URL: env.nats.url, SLUICE_READ_DATABASE_URL: readsUrl, ...extra },
    );

  /** The daemon in this process. */
  function startDaemon(models: readonly ShopReadModel[] = MODELS) {
    const abort = new AbortController();
    const done = runReadModels(config(models), silent, abort.signal);
    done.catch(() => undefined);
    return {
      done,
      stop: async () => {
        abort.abort();
        await done;
      },
    };
  }

  /** `sluice read-models run` as a child process (for kill -9), configured through a YAML file. */
  function spawnDaemon(models: readonly ShopReadModel[] = MODELS) {
    return spawnSluice(['read-models', 'run'], models);
  }

  /** A `sluice` command in a child process, configured through a YAML file holding `models`. */
  function spawnSluice(
    args: string[],
    models: readonly ShopReadModel[],
  ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-rm-'));
    const file = join(dir, 'sluice.yaml');
    writeFileSync(file, stringify({ readDatabaseUrl: readsUrl, readModels: models }));
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        SLUICE_CONFIG: file,
        SLUICE_NATS_URL: env.nats.url,
        SLUICE_LOG_LEVEL: 'info',
        SLUICE_HTTP_PORT: '0', // no query API: tests in parallel would compete for its port
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => out, exited };
  }

  /** Waits for a quiet point: the connector confirmed everything, every model reflects the stream's end. */
  async function quiet(models: readonly ShopReadModel[] = MODELS): Promise<void> {
    await waitCaughtUp(env);
    const { lastSeq } = await streamInfo(env, 'facts');
    await eventually(
      async () => {
        const r = await reads.query<{ name: string; seq: string }>(
          `SELECT name, stream_seq AS seq FROM _sluice.positions WHERE name = ANY($1)`,
          [models.map((m) => m.name)],
        );
        const behind = models.filter(
          (m) => Number(r.rows.find((x) => x.name === m.name)?.seq ?? -1) < lastSeq,
        );
        if (behind.length) throw new Error(`behind seq ${lastSeq}: ${behind.map((m) => m.name).join(', ')}`);
        return true;
      },
      { timeout: 90_000, interval: 100, message: `every model at facts seq ${lastSeq}` },
    );
  }

  /** Rows of `sql` on the source, and of the model table, as sorted text. */
  async function truthAndModel(m: ShopReadModel): Promise<{ truth: string[]; model: string[] }> {
    const truth = (await env.sql<{ r: string }>(`SELECT q::text AS r FROM (${m.sql}) q`)).rows
      .map((r) => r.r)
      .sort();
    const model = (await reads.query<{ r: string }>(`SELECT t::text AS r FROM read_models.${m.name} t`)).rows
      .map((r) => r.r)
      .sort();
    return { truth, model };
  }

  async function expectAllEqual(models: readonly ShopReadModel[] = MODELS): Promise<void> {
    for (const m of models) {
      const { truth, model } = await truthAndModel(m);
      expect(truth.length, `${m.name} has rows on the source`).toBeGreaterThan(0);
      expect(model, `read model ${m.name} equals its SQL on the source (seed ${SEED})`).toEqual(truth);
    }
  }

  /**
   * A reader polling order_summary during traffic: every order the traffic placed has items whose
   * sum is its total (placeOrder writes the order and its items in one transaction, deleteOrder
   * removes both in one), so a row where they differ shows part of a source transaction.
   */
  function pollForTornOrders(): { stop(): Promise<{ polls: number; torn: string[] }> } {
    let polls = 0;
    let polling = true;
    const torn: string[] = [];
    const loop = (async () => {
      while (polling) {
        const r = await reads
          .query<{ order_id: string; total: string; items_total: string }>(
            `SELECT order_id, total::text, items_total::text FROM read_models.order_summary
             WHERE order_id > $1 AND total <> items_total`,
            [seededMaxOrder],
          )
          .catch(() => ({ rows: [] }));
        polls++;
        for (const row of r.rows) torn.push(`${row.order_id}: total ${row.total}, items ${row.items_total}`);
      }
    })();
    const poller = {
      stop: async () => {
        polling = false;
        pollers.delete(poller);
        await loop;
        return { polls, torn };
      },
    };
    pollers.add(poller);
    return poller;
  }
  const pollers = new Set<{ stop(): Promise<unknown> }>();
  afterEach(async () => {
    for (const p of [...pollers]) await p.stop();
  });

  beforeAll(async () => {
    env = await startEnv();
    await seedShop(env.dbUrl, { customers: 150, products: 40, orders: 200, seed: 11 });
    seededMaxOrder = Number((await env.sql<{ m: string }>('SELECT max(id) AS m FROM orders')).rows[0]!.m);
    readsUrl = await env.pg.createDatabase('reads');
    reads = new pg.Pool({ connectionString: readsUrl, max: 3 });
    reads.on('error', () => undefined);
    connector = env.startConnector(shopConnectorEnv());
    await waitSnapshotsDone(env);
  });

  afterAll(async () => {
    await reads?.end().catch(() => undefined);
    await connector?.stop().catch(() => undefined);
    await env?.close();
  });

  it('keeps every model equal to its SQL on the source under randomized shop traffic', async () => {
    const daemon = startDaemon();
    try {
      await quiet();
      await expectAllEqual();
      const rnd = prng(SEED);
      const poller = pollForTornOrders();
      for (let round = 0; round < 3; round++) {
        const traffic = startTraffic(env, { rate: 300, seed: SEED + round });
        await faultDelay(1500 + Math.floor(rnd() * 1500));
        await traffic.stop();
        await quiet();
        await expectAllEqual();
      }
      const { polls, torn } = await poller.stop();
      expect(polls).toBeGreaterThan(10);
      expect(torn, 'orders seen without all their items').toEqual([]);
      const s = await collectReadModelsStatus(config());
      const summary = s.models.find((m) => m.name === 'order_summary')!;
      expect(summary.rows).toBe(
        Number((await env.sql<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0]!.n),
      );
      expect(summary.lagBytes).toBe(0);
      expect(summary.streamSeq).toBe(s.facts.lastSeq);
      // The same through the command a user runs.
      const cli = spawnSluice(['read-models', 'status', '--json'], [MODELS[0]!]);
      expect(await cli.exited).toBe(0);
      const printed = JSON.parse(cli.output()) as typeof s;
      expect(printed.models.find((m) => m.name === 'order_summary')).toMatchObject({
        rows: summary.rows,
        streamSeq: summary.streamSeq,
        lagBytes: 0,
      });
    } finally {
      await daemon.stop();
    }
  });

  it('propagates FK moves and parent renames to exactly the dependent rows', async () => {
    const daemon = startDaemon();
    try {
      await quiet();
      const ids = await env.sql<{
        order_id: string;
        product_id: string;
        other: string;
        customer_id: string;
        cu2: string;
      }>(
        `SELECT i.order_id, i.product_id, o.customer_id,
                (SELECT p.id FROM products p WHERE NOT EXISTS
                   (SELECT 1 FROM order_items j WHERE j.order_id = i.order_id AND j.product_id = p.id)
                 ORDER BY p.id LIMIT 1) AS other,
                (SELECT c.id FROM customers c WHERE c.id <> o.customer_id ORDER BY c.id LIMIT 1) AS cu2
         FROM order_items i JOIN orders o ON o.id = i.order_id
         WHERE i.line_no = 1 ORDER BY i.order_id LIMIT 1`,
      );
      const t = ids.rows[0]!;
      // A renamed parent: every order showing the product shows the new name.
      await env.sql(`UPDATE products SET name = 'Renamed ' || name WHERE id = $1`, [t.product_id]);
      // A child moving to another parent: the item's product, the order's customer.
      await env.sql(`UPDATE order_items SET product_id = $2 WHERE order_id = $1 AND line_no = 1`, [
        t.order_id,
        t.other,
      ]);
      await env.sql(`UPDATE orders SET customer_id = $2 WHERE id = $1`, [t.order_id, t.cu2]);
      await quiet();
      await expectAllEqual();
      const renamed = await reads.query<{ n: string }>(
        `SELECT count(*) AS n FROM read_models.order_summary WHERE items::text LIKE '%Renamed %'`,
      );
      expect(Number(renamed.rows[0]!.n)).toBeGreaterThan(0);
      const moved = await reads.query<{ customer_email: string }>(
        `SELECT customer_email FROM read_models.order_summary WHERE order_id = $1`,
        [t.order_id],
      );
      const email = await env.sql<{ email: string }>(`SELECT email FROM customers WHERE id = $1`, [t.cu2]);
      expect(moved.rows[0]!.customer_email).toBe(email.rows[0]!.email);
    } finally {
      await daemon.stop();
    }
  });

  it('rejects an unsupported query at start, naming the construct and why', async () => {
    const bad: ShopReadModel = {
      name: 'latest_orders',
      key: ['id'],
      sql: 'SELECT o.id, o.total FROM orders o ORDER BY o.placed_at DESC LIMIT 10',
    };
    const err = await runReadModels(config([bad]), silent, new AbortController().signal).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ReadModelError);
    expect((err as Error).message).toBe(
      'read model "latest_orders": LIMIT/OFFSET is not supported in a read model: which rows fall inside the limit changes with rows far away from the change.',
    );
    // The CLI prints it as one line with the hint and exits non-zero.
    const child = spawnDaemon([
      { name: 'now_model', key: ['id'], sql: 'SELECT c.id, now() AS at FROM customers c' },
    ]);
    expect(await child.exited).toBe(1);
    expect(child.output().trim()).toBe(
      'sluice: read model "now_model": now() is not supported in a read model: it is not deterministic, so the model could not stay equal to the query run on the source. See docs/read-models.md for the supported SQL.',
    );
  });

  it('recovers exactly after kill -9 of the daemon under traffic (a standby takes over), and readers never see half a transaction', async () => {
    const rnd = prng(SEED + 1);
    const traffic = startTraffic(env, { rate: 300, seed: SEED + 7 });
    const poller = pollForTornOrders();
    const takeovers: number[] = [];
    try {
      let writer = spawnDaemon();
      await eventually(() => /read models running/.test(writer.output()), {
        timeout: 120_000,
        interval: 50,
        message: 'the read-model daemon to start',
      });
      for (let k = 0; k < 3; k++) {
        // A second daemon on the same read database stands by while the writer holds the lock.
        const standby = spawnDaemon();
        await eventually(() => /standing by/.test(standby.output()), {
          timeout: 120_000,
          interval: 50,
          message: `the second daemon to stand by:\n${standby.output().slice(-2000)}`,
        });
        await faultDelay(300 + Math.floor(rnd() * 1200));
        const killedAt = Date.now();
        writer.child.kill('SIGKILL');
        await writer.exited;
        await eventually(() => /read models running/.test(standby.output()), {
          timeout: 120_000,
          interval: 50,
          message: `the standby to take over:\n${standby.output().slice(-2000)}`,
        });
        takeovers.push(Date.now() - killedAt);
        writer = standby;
      }
      writer.child.kill('SIGKILL');
      await writer.exited;
    } finally {
      await traffic.stop();
    }
    console.log(`read-model daemon takeovers after SIGKILL: ${takeovers.join(', ')} ms`);
    for (const ms of takeovers) expect(ms, 'takeover after SIGKILL').toBeLessThan(10_000);
    const daemon = startDaemon();
    try {
      await quiet();
      await expectAllEqual();
    } finally {
      await daemon.stop();
    }
    const { polls, torn } = await poller.stop();
    expect(polls).toBeGreaterThan(10);
    expect(torn, 'orders seen without all their items').toEqual([]);
  });

  it('takes over from a paused writer (SIGSTOP): the standby ends its session; resumed, it writes nothing and stops', async () => {
    const traffic = startTraffic(env, { rate: 300, seed: SEED + 11 });
    const poller = pollForTornOrders();
    let takeover: number | undefined;
    let stopped = false;
    try {
      const writer = spawnDaemon();
      await eventually(() => /read models running/.test(writer.output()), {
        timeout: 120_000,
        interval: 50,
        message: 'the read-model daemon to start',
      });
      const standby = spawnDaemon();
      await eventually(() => /standing by/.test(standby.output()), {
        timeout: 120_000,
        interval: 50,
        message: `the second daemon to stand by:\n${standby.output().slice(-2000)}`,
      });
      const stoppedAt = Date.now();
      writer.child.kill('SIGSTOP');
      await eventually(() => /read models running/.test(standby.output()), {
        timeout: 60_000,
        interval: 50,
        message: `the standby to take over from the paused writer:\n${standby.output().slice(-2000)}`,
      });
      takeover = Date.now() - stoppedAt;
      // The paused writer's session is gone: nothing it still had open can commit.
      const ended = /"writerPid":(\d+)/.exec(standby.output());
      expect(ended, standby.output().slice(-2000)).not.toBeNull();
      const alive = await reads.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [Number(ended![1])]);
      expect(alive.rows).toEqual([]);
      writer.child.kill('SIGCONT');
      // Resumed, it finds its session ended and stops with an error (a supervisor restarts it as a standby).
      expect(await writer.exited).not.toBe(0);
      await traffic.stop();
      stopped = true;
      await quiet();
      await expectAllEqual();
      standby.child.kill('SIGTERM');
      expect(await standby.exited).toBe(0);
    } finally {
      if (!stopped) await traffic.stop();
    }
    console.log(`read-model daemon takeover after SIGSTOP: ${takeover} ms`);
    // WRITER_STALE_MS (8 s) without a beat, then the next standby attempt (1 s).
    expect(takeover).toBeLessThan(15_000);
    const { torn } = await poller.stop();
    expect(torn, 'orders seen without all their items').toEqual([]);
  });

  it('rebuilds a model into an identical table while reads continue, and rebuilds when its SQL changes', async () => {
    const daemon = startDaemon();
    try {
      await quiet();
      const before = await truthAndModel(shopReadModels[0]!);
      let reading = true;
      let readsDone = 0;
      const reader = (async () => {
        while (reading) {
          await reads.query('SELECT count(*) FROM read_models.order_summary');
          readsDone++;
        }
      })();
      const r = await rebuildReadModel(config(), 'order_summary', silent, () => undefined);
      reading = false;
      await reader;
      expect(r.by).toBe('the daemon');
      expect(r.rows).toBe(before.truth.length);
      expect(readsDone).toBeGreaterThan(0);
      const after = await truthAndModel(shopReadModels[0]!);
      expect(after.model).toEqual(before.model);
    } finally {
      await daemon.stop();
    }
    // A changed SQL: the daemon rebuilds the model at start.
    const changed = MODELS.map((m) =>
      m.name === 'customer_360'
        ? { ...m, sql: m.sql.replace('c.email,', 'c.email, upper(c.name) AS shout,') }
        : m,
    );
    const d2 = startDaemon(changed);
    try {
      await eventually(
        async () => {
          const cols = await reads.query<{ column_name: string }>(
            `SELECT column_name FROM information_schema.columns
             WHERE table_schema = 'read_models' AND table_name = 'customer_360'`,
          );
          if (!cols.rows.some((c) => c.column_name === 'shout')) throw new Error('not rebuilt yet');
          return true;
        },
        { timeout: 60_000, interval: 100, message: 'customer_360 rebuilt with its new column' },
      );
      await quiet(changed);
      await expectAllEqual(changed);
    } finally {
      await d2.stop();
    }
  });

  it('follows a column added at the source into the replica, and a model using it is built', async () => {
    const daemon = startDaemon();
    try {
      await quiet();
      await env.sql(`ALTER TABLE customers ADD COLUMN tier text`);
      await env.sql(
        `UPDATE customers SET tier = CASE WHEN id % 3 = 0 THEN 'gold' ELSE 'basic' END WHERE id % 2 = 0`,
      );
      await quiet();
      const replica = (
        await reads.query<{ r: string }>(`SELECT (id, tier)::text AS r FROM public.customers`)
      ).rows
        .map((r) => r.r)
        .sort();
      const source = (await env.sql<{ r: string }>(`SELECT (id, tier)::text AS r FROM customers`)).rows
        .map((r) => r.r)
        .sort();
      expect(replica).toEqual(source);
      await expectAllEqual();
    } finally {
      await daemon.stop();
    }
    const tiers: ShopReadModel = {
      name: 'customers_by_tier',
      key: ['tier'],
      sql: `SELECT coalesce(c.tier, 'none') AS tier, count(*) AS customers FROM customers c GROUP BY 1`,
    };
    const d2 = startDaemon([...MODELS, tiers]);
    try {
      await env.sql(
        `UPDATE customers SET tier = 'platinum' WHERE id IN (SELECT id FROM customers ORDER BY id LIMIT 5)`,
      );
      await eventually(
        async () => {
          const r = await reads.query(`SELECT 1 FROM _sluice.positions WHERE name = 'customers_by_tier'`);
          if (r.rowCount === 0) throw new Error('not built yet');
          return true;
        },
        { timeout: 60_000, interval: 100, message: 'customers_by_tier built' },
      );
      await quiet([...MODELS, tiers]);
      await expectAllEqual([...MODELS, tiers]);
    } finally {
      await d2.stop();
    }
  });
});
