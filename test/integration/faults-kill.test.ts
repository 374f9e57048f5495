/**
 * kill -9 of the connector at random moments under shop traffic: after the last restart has caught
 * up, nothing is lost (facts equal the tables, one delta per committed row change) and nothing is
 * stored twice (every event id and version once, versions rising in stream order).
 *
 * The kill moments come from a seeded PRNG: SLUICE_FAULT_SEED replays a failing run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type ChildConnector, type SluiceEnv } from './env.js';
import {
  checkShopAfterFaults,
  faultDelay,
  prng,
  seedShopWithAudit,
  shopConnectorEnv,
  spawnStreaming,
  startTraffic,
  tail,
  waitCaughtUp,
  waitSnapshotsDone,
  waitStreaming,
} from './faults-helpers.js';

const SEED = Number(process.env.SLUICE_FAULT_SEED ?? 20_240_611);
const KILLS = 12;

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
  await seedShopWithAudit(env, { customers: 300, products: 50, orders: 200 });
});

afterAll(async () => {
  await env?.close();
});

describe('faults: kill -9 of the connector', () => {
  it(`loses nothing and duplicates nothing across ${KILLS} kills at random moments (seed ${SEED})`, async () => {
    const started = Date.now();
    const rand = prng(SEED);
    const extra = shopConnectorEnv();
    let c: ChildConnector = await spawnStreaming(env, extra);
    const traffic = startTraffic(env, { rate: 400, seed: SEED });
    const moments: number[] = [];
    const restarts: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      if (i > 0) {
        c = env.spawnConnector(extra);
        await waitStreaming(c);
      }
      const delay = 200 + Math.floor(rand() * 1800);
      moments.push(delay);
      await faultDelay(delay);
      // It must still be running: the kill is the only fault here.
      expect(c.child.exitCode, `the connector exited by itself:\n${tail(c.output())}`).toBeNull();
      // Sessions that ended by themselves (e.g. the slot still held by the killed process's walsender).
      restarts.push((c.output().match(/session ended/g) ?? []).length);
      await c.kill('SIGKILL');
    }
    const stats = await traffic.stop();

    c = env.spawnConnector(extra);
    await waitStreaming(c);
    await waitSnapshotsDone(env);
    await waitCaughtUp(env);
    const summary = await checkShopAfterFaults(env);
    // The traffic generator's own count of committed row changes agrees with the audit.
    expect(summary.changeDeltas).toBe(stats.changes);
    expect(summary.txMarkers).toBeGreaterThan(0);
    console.log(
      `faults-kill: seed ${SEED}, kills after ${moments.join(', ')} ms of streaming; ` +
        `session restarts within a run: ${restarts.join(',')}; traffic ${stats.ops} ops, ` +
        `${stats.changes} changes at ${stats.achievedRate.toFixed(0)}/s (${stats.errors} errors, ` +
        `${stats.retries} retries); ${summary.changeDeltas} change deltas, ${summary.txMarkers} tx markers, ` +
        `${summary.facts.length} facts; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    await c.kill('SIGTERM');
  }, 240_000);
});
