/**
 * NATS faults under shop traffic: nats-server killed (kill -9) and restarted, and nats-server down
 * for 30 s. Afterwards every change arrives exactly once and the facts equal the tables; during the
 * outage the connector's memory stays bounded (it stops reading the replication stream instead of
 * buffering).
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, type ChildConnector } from './env.js';
import {
  checkShopAfterFaults,
  deltasGrow,
  explained,
  faultDelay,
  installAudit,
  phases,
  RssSampler,
  seedShopWithAudit,
  sessionsEnded,
  shopConnectorEnv,
  spawnStreaming,
  startTraffic,
  streamInfo,
  tail,
  waitCaughtUp,
  waitSnapshotsDone,
} from './faults-helpers.js';

const SEED_ROWS = { customers: 300, products: 50, orders: 200 };

/** Waits until the connector's log shows it saw NATS go away. */
async function sawDisconnect(c: ChildConnector): Promise<void> {
  await eventually(() => /NATS disconnect/.test(c.output()), {
    timeout: 30_000,
    interval: 50,
    message: 'the connector to notice NATS is gone',
  });
}

describe('faults: NATS', () => {
  it('nats-server killed (kill -9) mid-stream and restarted: every change arrives once', async () => {
    const t = phases();
    const env = await startEnv();
    try {
      await seedShopWithAudit(env, SEED_ROWS);
      const c = await spawnStreaming(env, shopConnectorEnv());
      t.mark('setup');
      const traffic = startTraffic(env, { rate: 400, seed: 101 });
      const before = await deltasGrow(env, 0, 1000, c);
      t.mark('streaming');

      await env.nats.kill();
      const down = Date.now();
      await sawDisconnect(c);
      // The outage lasts a few seconds of traffic, then NATS comes back on the same port and store.
      await faultDelay(Math.max(0, 3000 - (Date.now() - down)));
      await env.nats.start();
      const outageMs = Date.now() - down;
      t.mark('outage');

      // Traffic goes on through the recovery; stop it once the connector publishes again.
      await deltasGrow(env, before, 2000, c);
      const stats = await traffic.stop();
      t.mark('recovery');
      await explained(env, c, () => waitSnapshotsDone(env));
      await explained(env, c, () => waitCaughtUp(env));
      t.mark('catch-up');
      expect(c.child.exitCode, tail(c.output())).toBeNull();
      const summary = await checkShopAfterFaults(env);
      expect(summary.changeDeltas).toBe(stats.changes);
      t.mark('checks');
      console.log(
        `faults-nats kill: outage ${outageMs} ms; sessions ended: ${JSON.stringify(sessionsEnded(c))}; ` +
          `${stats.changes} changes at ${stats.achievedRate.toFixed(0)}/s, ${summary.changeDeltas} change deltas, ` +
          `${summary.txMarkers} tx markers; ${t}`,
      );
      await c.kill('SIGTERM');
    } finally {
      await env.close();
    }
  }, 150_000);

  it('nats-server down for 30 s under traffic and a bulk load: memory stays flat, then every change arrives once', async () => {
    const t = phases();
    const env = await startEnv();
    try {
      await seedShopWithAudit(env, SEED_ROWS);
      // A bulk load during the outage makes the backlog large enough that buffering it would show.
      await env.sql(`CREATE TABLE public.bulk (id int PRIMARY KEY, pad text NOT NULL)`);
      await installAudit(env, ['bulk']);
      const tables = `${shopConnectorEnv().SLUICE_TABLES},public.bulk`;
      const c = await spawnStreaming(env, shopConnectorEnv({ SLUICE_TABLES: tables }));
      const rss = new RssSampler(c.child.pid!, 500);
      t.mark('setup');
      try {
        const traffic = startTraffic(env, { rate: 500, seed: 202 });
        await deltasGrow(env, 0, 1000, c);
        // Baseline: the last 5 s of streaming before the outage.
        await eventually(() => rss.samples.filter((s) => s.at > Date.now() - 5000).length >= 9, {
          timeout: 10_000,
          message: '5 s of RSS samples',
        });
        const baseline = rss.median(Date.now() - 5000);
        const before = (await streamInfo(env, 'deltas')).messages;
        t.mark('streaming');

        await env.nats.stop();
        const down = Date.now();
        await sawDisconnect(c);
        await env.sql(
          `INSERT INTO public.bulk SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 100000) g`,
        );
        await faultDelay(Math.max(0, 30_000 - (Date.now() - down)));
        const peak = rss.peak(down, Date.now());
        t.mark('outage');
        console.log(
          `faults-nats outage: connector RSS baseline ${baseline.toFixed(0)} MB, peak during the 30 s outage ` +
            `${peak.toFixed(0)} MB; sessions ended during it: ${JSON.stringify(sessionsEnded(c))}`,
        );
        expect(peak - baseline, `RSS peak ${peak} MB vs baseline ${baseline} MB`).toBeLessThanOrEqual(150);
        expect(c.child.exitCode, `the connector exited during the outage:\n${tail(c.output())}`).toBeNull();
        await env.nats.start();
        const up = Date.now();

        // It must reconnect by itself and publish what queued up in the WAL meanwhile.
        await deltasGrow(env, before, 2000, c);
        const stats = await traffic.stop();
        t.mark('recovery');
        await explained(env, c, () => waitSnapshotsDone(env));
        await explained(env, c, () => waitCaughtUp(env, 180_000));
        const caughtUpMs = Date.now() - up;
        t.mark('catch-up');
        expect(c.child.exitCode, tail(c.output())).toBeNull();
        const summary = await checkShopAfterFaults(env);
        expect(summary.changesByTableOp['bulk.insert']).toBe(100_000);
        expect(summary.changeDeltas).toBe(stats.changes + 100_000);
        t.mark('checks');
        console.log(
          `faults-nats outage: caught up ${caughtUpMs} ms after NATS returned; peak RSS overall ` +
            `${rss.peak().toFixed(0)} MB; sessions ended: ${JSON.stringify(sessionsEnded(c))}; ` +
            `${stats.changes} traffic changes at ${stats.achievedRate.toFixed(0)}/s + 100000 bulk rows; ${t}`,
        );
        await c.kill('SIGTERM');
      } finally {
        rss.stop();
      }
    } finally {
      await env.close();
    }
  }, 180_000);
});
