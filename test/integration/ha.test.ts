/**
 * High availability (`SLUICE_HA=on`): two `sluice run` replicas with the same configuration, under
 * shop traffic. Exactly one streams; after a SIGKILL of the leader the standby streams within 10 s
 * (measured from the kill to the first message stored with its epoch), and nothing is lost or
 * duplicated. A SIGSTOPped leader is taken over (its walsender terminated); after SIGCONT it
 * publishes nothing — proven from the streams by the `Sluice-Epoch` header every message carries —
 * and goes back to standing by.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventually, freePort } from '../harness/index.js';
import { streamNames } from '../../schemas/subjects.js';
import { startEnv, type ChildConnector, type SluiceEnv } from './env.js';
import {
  checkShopAfterFaults,
  deltasGrow,
  exitSignal,
  explained,
  phases,
  seedShopWithAudit,
  shopConnectorEnv,
  startTraffic,
  streamInfo,
  tail,
  waitCaughtUp,
  waitSnapshotsDone,
  waitStreaming,
} from './faults-helpers.js';

const TAKEOVER_LIMIT_MS = 10_000;
const extra = shopConnectorEnv({ SLUICE_HA: 'on' });

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
  await seedShopWithAudit(env, { customers: 200, products: 40, orders: 150 });
});

afterAll(async () => {
  await env?.close();
});

/** The epochs a replica acquired, from its "acquired the leader lease" log lines, in order. */
function epochs(c: ChildConnector): number[] {
  const out: number[] = [];
  for (const line of c.output().split('\n')) {
    if (!line.includes('"acquired the leader lease"')) continue;
    out.push((JSON.parse(line) as { epoch: number }).epoch);
  }
  return out;
}

async function waitStandingBy(c: ChildConnector, times = 1): Promise<void> {
  await eventually(() => (c.output().match(/"msg":"standing by, leader is [^"]+"/g) ?? []).length >= times, {
    timeout: 60_000,
    interval: 50,
    message: 'the replica to stand by',
    signal: exitSignal(c),
  });
}

/** Epoch header of the newest message of the deltas stream (0 when it has none). */
async function lastDeltaEpoch(): Promise<number> {
  const jsm = await jetstreamManager(env.nc);
  const name = streamNames('cdc').deltas;
  const info = await jsm.streams.info(name);
  if (info.state.last_seq === 0) return 0;
  const m = await jsm.streams.getMessage(name, { seq: info.state.last_seq });
  return Number(m?.header.get('Sluice-Epoch') || 0);
}

/** Waits until a message with `epoch` is the newest in the deltas stream; returns when (ms since epoch). */
async function firstStoredWith(epoch: () => number, c: ChildConnector): Promise<number> {
  await eventually(
    async () => {
      const e = epoch();
      if (!e || (await lastDeltaEpoch()) !== e)
        throw new Error(`the new leader has not published yet:\n${tail(c.output(), 15)}`);
      return true;
    },
    { timeout: 30_000, interval: 50, message: 'the new leader to publish', signal: exitSignal(c) },
  );
  return Date.now();
}

/** Messages per epoch in both streams, and whether the epochs never go down in stream order. */
async function byEpoch(): Promise<{ counts: Map<number, number>; ordered: boolean; missing: number }> {
  const counts = new Map<number, number>();
  let ordered = true;
  let missing = 0;
  for (const msgs of [await env.deltas(), await env.facts()]) {
    let prev = 0;
    for (const m of msgs) {
      const e = Number(m.headers['Sluice-Epoch'] ?? 0);
      if (!e) missing++;
      if (e < prev) ordered = false;
      prev = Math.max(prev, e);
      counts.set(e, (counts.get(e) ?? 0) + 1);
    }
  }
  return { counts, ordered, missing };
}

describe('high availability: two connector replicas', () => {
  let leader: ChildConnector;
  let standby: ChildConnector;
  const takeovers: number[] = [];

  it('one streams, the other stands by; SIGKILL of the leader: the standby streams within 10 s, nothing lost or duplicated', async () => {
    const p = phases();
    leader = env.spawnConnector(extra);
    await waitStreaming(leader);
    await explained(env, leader, () => waitSnapshotsDone(env));
    const port = await freePort();
    standby = env.spawnConnector({ ...extra, SLUICE_HTTP_PORT: String(port) });
    await waitStandingBy(standby);
    p.mark('replicas up');
    const ready = await fetchReadyz(port);
    expect(ready).toMatchObject({ status: 200, body: { state: 'standby' } });
    expect(String((ready.body as { leader: string }).leader)).toMatch(/:\d+:/);

    const traffic = startTraffic(env, { rate: 250, seed: 11 });
    const before = (await streamInfo(env, 'deltas')).messages;
    await deltasGrow(env, before, 300, leader);
    expect(standby.output(), 'the standby never streams while the leader lives').not.toMatch(
      /"msg":"streaming"/,
    );

    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    const streamedAt = await firstStoredWith(() => epochs(standby)[0] ?? 0, standby);
    takeovers.push(streamedAt - killedAt);
    expect(streamedAt - killedAt, `takeover after SIGKILL:\n${tail(standby.output())}`).toBeLessThan(
      TAKEOVER_LIMIT_MS,
    );
    p.mark('takeover');
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 300, standby);
    const stats = await traffic.stop();
    await waitCaughtUp(env);
    const summary = await checkShopAfterFaults(env);
    expect(summary.changeDeltas).toBe(stats.changes);
    const { ordered, missing } = await byEpoch();
    expect({ ordered, missing }).toEqual({ ordered: true, missing: 0 });
    p.mark('checked');
    console.log(
      `ha SIGKILL: takeover ${takeovers[0]} ms (kill → first delta stored by the new leader); ` +
        `${stats.changes} changes at ${stats.achievedRate.toFixed(0)}/s; ${p}`,
    );
  }, 120_000);

  it('SIGSTOP of the leader: the standby takes over; after SIGCONT the old leader publishes nothing and stands by', async () => {
    const p = phases();
    // The survivor of the first test leads; a new replica stands by.
    const old = standby;
    const next = env.spawnConnector(extra);
    await waitStandingBy(next);
    const oldEpoch = epochs(old).at(-1)!;
    const traffic = startTraffic(env, { rate: 250, seed: 12 });
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 300, old);
    p.mark('replica up');

    const stoppedAt = Date.now();
    old.child.kill('SIGSTOP');
    const streamedAt = await firstStoredWith(() => epochs(next)[0] ?? 0, next);
    takeovers.push(streamedAt - stoppedAt);
    expect(streamedAt - stoppedAt, `takeover after SIGSTOP:\n${tail(next.output())}`).toBeLessThan(
      TAKEOVER_LIMIT_MS,
    );
    expect(next.output(), 'the new leader terminated the paused walsender').toMatch(
      /still used by walsender \d+ \(a previous leader\): terminating it/,
    );
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 200, next);
    const frozen = (await byEpoch()).counts.get(oldEpoch) ?? 0;
    p.mark('takeover');

    const streamingBefore = (old.output().match(/"msg":"streaming"/g) ?? []).length;
    old.child.kill('SIGCONT');
    await eventually(() => /lost the leader lease/.test(old.output()), {
      timeout: 30_000,
      interval: 50,
      message: 'the old leader to notice it lost the lease',
      signal: exitSignal(old),
    });
    await waitStandingBy(old);
    // Traffic keeps flowing through the new leader while the old one is awake again.
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 300, next);
    const stats = await traffic.stop();
    await waitCaughtUp(env);
    const after = await byEpoch();
    expect(after.counts.get(oldEpoch) ?? 0, 'messages stored with the old epoch after SIGCONT').toBe(frozen);
    expect({ ordered: after.ordered, missing: after.missing }).toEqual({ ordered: true, missing: 0 });
    expect((old.output().match(/"msg":"streaming"/g) ?? []).length, 'the old leader streams again').toBe(
      streamingBefore,
    );
    expect(old.child.exitCode).toBeNull();
    const summary = await checkShopAfterFaults(env);
    expect(summary.changeDeltas).toBeGreaterThanOrEqual(stats.changes);
    p.mark('checked');
    console.log(
      `ha SIGSTOP: takeover ${takeovers[1]} ms (stop → first delta stored by the new leader); old epoch ` +
        `${oldEpoch}: ${frozen} messages, none after SIGCONT; lost-lease log: ` +
        `${/"msg":"(lost the leader lease[^"]*)"/.exec(old.output())?.[1]}; ${p}`,
    );
    await next.kill('SIGTERM');
    await old.kill('SIGTERM');
  }, 120_000);
});

async function fetchReadyz(port: number): Promise<{ status: number; body: unknown }> {
  const res = await eventually(() => fetch(`http://127.0.0.1:${port}/readyz`), {
    timeout: 10_000,
    interval: 100,
    message: '/readyz to answer',
  });
  return { status: res.status, body: await res.json() };
}
