/**
 * PostgreSQL faults under shop traffic: a clean restart (fast shutdown, start) and a crash (kill -9
 * of the postmaster and its backends, then crash recovery). The connector reconnects by itself, with
 * backoff; afterwards the facts equal the tables and every committed row change has exactly one
 * delta. After a crash the slot's confirmed position may go back to the last checkpoint, so the
 * connector replays changes the streams already hold and must skip them.
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, type SluiceEnv } from './env.js';
import {
  checkShopAfterFaults,
  deltasGrow,
  exitSignal,
  explained,
  faultDelay,
  phases,
  seedShopWithAudit,
  sessionsEnded,
  shopConnectorEnv,
  spawnStreaming,
  startTraffic,
  streamingSessions,
  tail,
  waitCaughtUp,
} from './faults-helpers.js';

async function confirmedLsn(env: SluiceEnv): Promise<string> {
  const r = await env.sql<{ l: string }>(
    `SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = 'sluice'`,
  );
  return r.rows[0]?.l ?? 'none';
}

const CASES = [
  { name: 'restarted (fast shutdown, start)', fault: (env: SluiceEnv) => env.pg.stop(), seed: 301 },
  {
    name: 'killed (kill -9) and started (crash recovery)',
    fault: (env: SluiceEnv) => env.pg.kill(),
    seed: 302,
  },
];

describe('faults: PostgreSQL', () => {
  it.each(CASES)(
    'PostgreSQL $name mid-stream: the connector reconnects, nothing lost or duplicated',
    async (k) => {
      const t = phases();
      const env = await startEnv();
      try {
        await seedShopWithAudit(env, { customers: 300, products: 50, orders: 200 });
        const c = await spawnStreaming(env, shopConnectorEnv());
        t.mark('setup');
        const traffic = startTraffic(env, { rate: 400, seed: k.seed });
        const before = await deltasGrow(env, 0, 1500, c);
        t.mark('streaming');

        const slotBefore = await confirmedLsn(env);
        const down = Date.now();
        await k.fault(env);
        // Down long enough that the connector's reconnects are refused a few times (it backs off).
        await faultDelay(3000);
        await env.pg.start();
        const outageMs = Date.now() - down;
        const slotAfter = await confirmedLsn(env);
        t.mark('fault');

        // The connector comes back by itself (a new session) and publishes traffic written after the restart.
        await explained(env, c, () =>
          eventually(() => streamingSessions(c) >= 2, {
            timeout: 60_000,
            interval: 100,
            message: 'a new streaming session',
            signal: exitSignal(c),
          }),
        );
        await deltasGrow(env, before, 2000, c);
        const stats = await traffic.stop();
        t.mark('recovery');
        await explained(env, c, () => waitCaughtUp(env));
        t.mark('catch-up');
        expect(c.child.exitCode, tail(c.output())).toBeNull();
        const summary = await checkShopAfterFaults(env);
        t.mark('checks');
        console.log(
          `faults-postgres ${k.name}: down ${outageMs} ms; slot confirmed ${slotBefore} before, ${slotAfter} ` +
            `after the restart; sessions ended: ${JSON.stringify(sessionsEnded(c))}; ` +
            `traffic ${stats.changes} changes at ${stats.achievedRate.toFixed(0)}/s (${stats.errors} ops failed ` +
            `on the restart); ${summary.changeDeltas} change deltas, ${summary.txMarkers} tx markers; ${t}`,
        );
        await c.kill('SIGTERM');
      } finally {
        await env.close();
      }
    },
    150_000,
  );
});
