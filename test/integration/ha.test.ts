/**
 * High availability (`SLUICE_HA=on`): two `sluice run` replicas with the same configuration, under
 * shop traffic. Exactly one streams; after a SIGKILL of the leader the standby streams within 10 s
 * (measured from the kill to its "streaming" log line: lease held, slot taken, replication session
 * open; the time to the first delta it stored is reported too), and nothing is lost or duplicated. A SIGSTOPped leader is taken over (its walsender terminated); after SIGCONT it
 * publishes nothing — proven from the streams by the `Sluice-Epoch` header every message carries —
 * and goes back to standing by.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventually, freePort } from '../harness/index.js';
import { streamNames } from '../../schemas/subjects.js';
import { startEnv, type ChildConnector, type SluiceEnv } from './env.js';
import { sluice } from './sluice-command.js';
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
  await seedShopWithAudit(env, { customers: 100, products: 20, orders: 60 });
});

const spawned: ChildConnector[] = [];
afterAll(async () => {
  if (process.env.SLUICE_TEST_HA_LOGS)
    spawned.forEach((c, i) =>
      writeFileSync(`${process.env.SLUICE_TEST_HA_LOGS}/replica-${i}.log`, c.output()),
    );
  await env?.close();
});

function spawn(e: Record<string, string>): ChildConnector {
  const c = env.spawnConnector(e);
  spawned.push(c);
  return c;
}

/** The epochs a replica acquired (at or after `from`), from its "acquired the leader lease" log lines, in order. */
function epochs(c: ChildConnector, from = 0): number[] {
  const out: number[] = [];
  for (const line of c.output().split('\n')) {
    if (!line.includes('"acquired the leader lease"')) continue;
    const l = JSON.parse(line) as { epoch: number; time: number };
    if (l.time >= from) out.push(l.epoch);
  }
  return out;
}

/** The holder name a replica leads under (`host:pid:id`), from its log (`pid <n>` before it led). */
function holderOf(c: ChildConnector): string {
  return (
    /"holder":"([^"]+)"[^\n]*"msg":"acquired the leader lease"/.exec(c.output())?.[1] ?? `pid ${c.child.pid}`
  );
}

/** Milliseconds from `from` to the first log line of `c` whose msg starts with `msg` (NaN: none). */
function logAfter(c: ChildConnector, msg: string, from: number): number {
  for (const line of c.output().split('\n')) {
    if (!line.includes(`"msg":"${msg}`)) continue;
    const t = (JSON.parse(line) as { time: number }).time;
    if (t >= from) return t - from;
  }
  return NaN;
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

/**
 * Waits until the new leader (its epoch from its log) stored a delta; returns when JetStream stored
 * the first one (the stream's own timestamp, ms since 1970).
 */
async function firstStoredWith(c: ChildConnector, from: number): Promise<number> {
  const e = await eventually(
    async () => {
      const e = epochs(c, from)[0];
      if (!e || (await lastDeltaEpoch()) !== e)
        throw new Error(`the new leader has not published yet:\n${tail(c.output(), 15)}`);
      return e;
    },
    { timeout: 30_000, interval: 50, message: 'the new leader to publish', signal: exitSignal(c) },
  );
  const first = (await env.deltas()).find((m) => Number(m.headers['Sluice-Epoch']) === e)!;
  const jsm = await jetstreamManager(env.nc);
  const stored = await jsm.streams.getMessage(streamNames('cdc').deltas, { seq: first.seq });
  return stored!.time.getTime();
}

/**
 * Per epoch and stream, how many messages carry it and the highest sequence of one; whether the
 * epochs never go down in stream order; how many messages lack the header. (Facts are compacted:
 * an old fact disappears when its row changes again, so the facts are judged by sequences.)
 */
async function byEpoch(): Promise<{
  deltas: Map<number, { count: number; maxSeq: number }>;
  facts: Map<number, { count: number; maxSeq: number }>;
  ordered: boolean;
  missing: number;
}> {
  let ordered = true;
  let missing = 0;
  const [deltas, facts] = [await env.deltas(), await env.facts()].map((msgs) => {
    const out = new Map<number, { count: number; maxSeq: number }>();
    let prev = 0;
    for (const m of msgs) {
      const e = Number(m.headers['Sluice-Epoch'] ?? 0);
      if (!e) missing++;
      if (e < prev) ordered = false;
      prev = Math.max(prev, e);
      const c = out.get(e) ?? { count: 0, maxSeq: 0 };
      c.count++;
      c.maxSeq = Math.max(c.maxSeq, m.seq);
      out.set(e, c);
    }
    return out;
  });
  return { deltas: deltas!, facts: facts!, ordered, missing };
}

describe('high availability: two connector replicas', () => {
  let survivor: ChildConnector | undefined;
  let killStats: { changes: number } | undefined;

  it('one streams, the other stands by; SIGKILL of the leader: the standby streams within 10 s', async () => {
    const p = phases();
    const first = spawn(extra);
    await waitStreaming(first);
    await explained(env, first, () => waitSnapshotsDone(env));
    const port = await freePort();
    const second = spawn({ ...extra, SLUICE_HTTP_PORT: String(port) });
    await waitStandingBy(second);
    p.mark('replicas up');
    const ready = await fetchReadyz(port);
    expect(ready).toMatchObject({ status: 200, body: { state: 'standby' } });
    expect(String((ready.body as { leader: string }).leader)).toMatch(/:\d+:/);
    // `sluice status` names the holder (the leader, unless leadership moved meanwhile: then the other).
    const status = await sluice(['status', '--json'], { ...env.env, ...extra });
    const holder = (JSON.parse(status.stdout) as { leader: { holder: string } | null }).leader?.holder;
    expect([first, second].map(holderOf)).toContain(holder);

    const traffic = startTraffic(env, { rate: 250, seed: 11 });
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 150, first);
    const { leader, standby } = await roles([first, second]);

    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    const takeover = await waitLog(standby, 'streaming', killedAt);
    const storedAt = await firstStoredWith(standby, killedAt);
    expect(takeover, `takeover after SIGKILL:\n${tail(standby.output())}`).toBeLessThan(TAKEOVER_LIMIT_MS);
    p.mark('takeover');
    // Loss and duplicates are checked once, after both faults, at the end of the next test.
    killStats = await traffic.stop();
    survivor = standby;
    console.log(
      `ha SIGKILL: takeover ${takeover} ms (kill → the standby streams; lease acquired after ` +
        `${logAfter(standby, 'acquired the leader lease', killedAt)} ms, first delta stored after ` +
        `${storedAt - killedAt} ms); ${killStats.changes} changes; ${p}`,
    );
  }, 240_000);

  it('SIGSTOP of the leader: the standby takes over; after SIGCONT the old leader publishes nothing; nothing lost or duplicated', async () => {
    expect(survivor, 'the SIGKILL test left a leader').toBeDefined();
    if (!survivor || !killStats) return;
    const p = phases();
    const third = spawn(extra);
    await waitStandingBy(third);
    const traffic = startTraffic(env, { rate: 250, seed: 12 });
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 150, survivor);
    const { leader: old, standby: next } = await roles([survivor, third]);
    const oldEpoch = epochs(old).at(-1)!;
    p.mark('replica up');

    const stoppedAt = Date.now();
    old.child.kill('SIGSTOP');
    const takeover = await waitLog(next, 'streaming', stoppedAt);
    const storedAt = await firstStoredWith(next, stoppedAt);
    expect(takeover, `takeover after SIGSTOP:\n${tail(next.output())}`).toBeLessThan(TAKEOVER_LIMIT_MS);
    // The paused leader's walsender would hold the slot for wal_sender_timeout (60 s).
    expect(next.output(), 'the new leader terminated the paused walsender').toMatch(
      /still used by walsender \d+ \(a previous leader\): terminating it/,
    );
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 100, next);
    const frozen = await byEpoch();
    const frozenDeltas = frozen.deltas.get(oldEpoch);
    const frozenFactSeq = frozen.facts.get(oldEpoch)?.maxSeq ?? 0;
    p.mark('takeover');

    const resumedAt = Date.now();
    old.child.kill('SIGCONT');
    await waitLog(old, 'lost the leader lease', resumedAt);
    await waitLog(old, 'standing by, leader is', resumedAt);
    // Traffic keeps flowing through the new leader while the old one is awake again.
    await deltasGrow(env, (await streamInfo(env, 'deltas')).messages, 150, next);
    const stats = await traffic.stop();
    await waitCaughtUp(env);
    const after = await byEpoch();
    expect(after.deltas.get(oldEpoch), 'deltas stored with the old epoch after SIGCONT').toEqual(
      frozenDeltas,
    );
    expect(
      after.facts.get(oldEpoch)?.maxSeq ?? 0,
      'facts stored with the old epoch after SIGCONT',
    ).toBeLessThanOrEqual(frozenFactSeq);
    expect(
      { ordered: after.ordered, missing: after.missing },
      'epochs never go down in stream order',
    ).toEqual({
      ordered: true,
      missing: 0,
    });
    expect(old.child.exitCode).toBeNull();
    // Both faults: facts equal the tables, one delta per committed change (the audit), each once.
    const summary = await checkShopAfterFaults(env);
    expect(summary.changeDeltas).toBe(killStats.changes + stats.changes);
    p.mark('checked');
    console.log(
      `ha SIGSTOP: takeover ${takeover} ms (stop → the standby streams; lease acquired after ` +
        `${logAfter(next, 'acquired the leader lease', stoppedAt)} ms, first delta stored after ` +
        `${storedAt - stoppedAt} ms); old epoch ${oldEpoch}: ${frozenDeltas?.count ?? 0} deltas, none ` +
        `after SIGCONT; its log: "${/"msg":"(lost the leader lease[^"]*)"/.exec(old.output().slice(-4000))?.[1]}"; ${p}`,
    );
    await next.kill('SIGTERM');
    await old.kill('SIGTERM');
  }, 240_000);
});

/**
 * Which replica leads now (it holds the lease by its log and streams) and which stands by. On a
 * loaded machine leadership may have moved already (a leader whose renewals stall loses the lease
 * — by design); the test follows it rather than assuming the first one still leads.
 */
async function roles(
  cs: [ChildConnector, ChildConnector],
): Promise<{ leader: ChildConnector; standby: ChildConnector }> {
  return eventually(
    () => {
      const leading = cs.filter(leads);
      if (leading.length !== 1) throw new Error(`${leading.length} replicas lead`);
      const leader = leading[0]!;
      return { leader, standby: cs.find((c) => c !== leader)! };
    },
    { timeout: 30_000, interval: 50, message: 'exactly one replica to lead' },
  );
}

/** True when the replica's last lease event is an acquisition followed by "streaming". */
function leads(c: ChildConnector): boolean {
  const lines = c.output().split('\n');
  const idx = (m: string) => lines.findLastIndex((l) => l.includes(`"msg":"${m}`));
  const acquired = idx('acquired the leader lease');
  return acquired >= 0 && acquired > idx('lost the leader lease') && idx('streaming') > acquired;
}

/** Waits for a log line of `c` starting with `msg` logged at or after `from`; returns ms since `from`. */
async function waitLog(c: ChildConnector, msg: string, from: number): Promise<number> {
  return eventually(
    () => {
      const t = logAfter(c, msg, from);
      if (Number.isNaN(t)) throw new Error(`no "${msg}" yet`);
      return t;
    },
    { timeout: 30_000, interval: 20, message: `"${msg}" in the log`, signal: exitSignal(c) },
  );
}

async function fetchReadyz(port: number): Promise<{ status: number; body: unknown }> {
  const res = await eventually(() => fetch(`http://127.0.0.1:${port}/readyz`), {
    timeout: 10_000,
    interval: 100,
    message: '/readyz to answer',
  });
  return { status: res.status, body: await res.json() };
}
