import { existsSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  HarnessError,
  HarnessErrorCode,
  closeAll,
  eventually,
  isAlive,
  lastBySubject,
  listLeftovers,
  readStream,
  startNats,
  startNatsCluster,
  startPostgres,
} from './index.js';
import type { NatsCluster, NatsServer, PostgresServer } from './index.js';

// Everything the harness started in this file, checked by the last test.
const servers: (PostgresServer | NatsServer)[] = [];
const serverPids = new Set<number>();
const backendPids = new Set<number>();
const tempDirs = new Set<string>();
let cluster: NatsCluster | undefined;

function remember(s: PostgresServer | NatsServer): void {
  if (s.pid !== undefined) serverPids.add(s.pid);
}

afterAll(async () => {
  await closeAll();
});

describe('eventually', () => {
  it('names what it waited for when it times out', async () => {
    const err = await eventually(() => false, {
      timeout: 100,
      interval: 10,
      message: 'the moon to turn blue',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HarnessError);
    expect((err as HarnessError).code).toBe(HarnessErrorCode.Timeout);
    expect((err as Error).message).toMatch(/waiting for the moon to turn blue/);
  });
});

describe.each([15, 17] as const)('PostgreSQL %i', (version) => {
  let pg: PostgresServer;
  let db: string;

  it('starts with wal_level=logical, the requested version and extra settings', async () => {
    pg = await startPostgres({ version, settings: { wal_sender_timeout: '7s' } });
    servers.push(pg);
    remember(pg);
    tempDirs.add(dirname(pg.dataDir));
    const v = await pg.query<{ server_version_num: string }>('SHOW server_version_num');
    expect(Math.floor(Number(v.rows[0]?.server_version_num) / 10_000)).toBe(version);
    expect((await pg.query('SHOW wal_level')).rows[0]).toEqual({ wal_level: 'logical' });
    expect((await pg.query('SHOW max_replication_slots')).rows[0]).toEqual({ max_replication_slots: '32' });
    expect((await pg.query('SHOW wal_sender_timeout')).rows[0]).toEqual({ wal_sender_timeout: '7s' });
    expect(pg.url()).toBe(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
  });

  it('writes and reads in a new database', async () => {
    const url = await pg.createDatabase();
    db = decodeURIComponent(new URL(url).pathname.slice(1));
    await pg.query('CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)', [], db);
    await pg.query('INSERT INTO item VALUES ($1, $2), ($3, $4)', [1, 'one', 2, 'two'], db);
    const { rows } = await pg.query('SELECT id, name FROM item ORDER BY id', [], db);
    expect(rows).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ]);
  });

  it('keeps committed rows across kill -9 (crash recovery) and a clean restart', async () => {
    const { rows } = await pg.query<{ pid: number }>('SELECT pid FROM pg_stat_activity');
    for (const r of rows) backendPids.add(r.pid);
    expect(backendPids.size).toBeGreaterThan(3);
    const postmaster = pg.pid;
    await pg.kill();
    expect(pg.running).toBe(false);
    expect(pg.pid).toBeUndefined();
    expect(isAlive(postmaster ?? -1)).toBe(false);
    // By working directory, not pid: with pid_max 32768 and parallel tests a pid is soon reused.
    for (const pid of rows.map((r) => r.pid)) expect(ours(pid, [pg.dataDir]), `backend ${pid}`).toBe(false);

    await pg.start();
    remember(pg);
    expect(pg.pid).not.toBe(postmaster);
    expect((await pg.query('SELECT name FROM item WHERE id = 2', [], db)).rows).toEqual([{ name: 'two' }]);

    await pg.query('INSERT INTO item VALUES (3, $1)', ['three'], db);
    await pg.restart();
    remember(pg);
    expect((await pg.query('SELECT count(*)::int AS n FROM item', [], db)).rows).toEqual([{ n: 3 }]);
  });
});

describe('nats-server', () => {
  it('stores messages, reads them back, and keeps them across kill -9', async () => {
    const ns = await startNats({ monitor: true });
    servers.push(ns);
    remember(ns);
    tempDirs.add(dirname(ns.storeDir));
    const varz = (await (await fetch(`${ns.monitorUrl}/varz`)).json()) as { version: string };
    expect(varz.version).toMatch(/^2\./);

    const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
      const js = jetstream(nc, { timeout: 2_000 });
      for (const id of [1, 2, 3]) {
        const h = headers();
        h.set('x-sluice-test', `order-${id}`);
        await js.publish(`orders.${id}`, JSON.stringify({ id }), { msgID: `order-${id}`, headers: h });
      }
      await js.publish('orders.raw', new Uint8Array([0xff, 0x00]), { msgID: 'raw' });

      const all = await readStream(nc, 'ORDERS');
      expect(all.map((m) => [m.seq, m.subject, m.data])).toEqual([
        [1, 'orders.1', { id: 1 }],
        [2, 'orders.2', { id: 2 }],
        [3, 'orders.3', { id: 3 }],
        [4, 'orders.raw', undefined],
      ]);
      expect(all[0]?.headers['x-sluice-test']).toBe('order-1');
      expect(all[0]?.headers['Nats-Msg-Id']).toBe('order-1');
      expect([...(all[3]?.raw ?? [])]).toEqual([0xff, 0x00]);
      expect((await readStream(nc, 'ORDERS', { filter: 'orders.2' })).map((m) => m.seq)).toEqual([2]);
      expect(await readStream(nc, 'ORDERS', { filter: 'orders.none' })).toEqual([]);
      expect((await lastBySubject(nc, 'ORDERS', 'orders.3'))?.data).toEqual({ id: 3 });
      expect(await lastBySubject(nc, 'ORDERS', 'orders.none')).toBeNull();
      // readStream leaves no consumers behind.
      expect((await jsm.streams.info('ORDERS')).state.consumer_count).toBe(0);

      const before = ns.pid;
      await ns.kill();
      expect(ns.running).toBe(false);
      expect(isAlive(before ?? -1)).toBe(false);
      await ns.start();
      remember(ns);
      const after = await eventually(() => readStream(nc, 'ORDERS'), {
        message: 'ORDERS readable after restart',
      });
      expect(after.map((m) => m.data)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, undefined]);

      await ns.restart();
      remember(ns);
      await eventually(() => js.publish('orders.4', JSON.stringify({ id: 4 }), { msgID: 'order-4' }), {
        message: 'a publish after a clean restart',
      });
      expect((await lastBySubject(nc, 'ORDERS', 'orders.4'))?.seq).toBe(5);
    } finally {
      await nc.close();
    }
  });
});

describe('3-node JetStream cluster', () => {
  it('keeps an R3 stream writable with its leader killed, and the node rejoins', async () => {
    cluster = await startNatsCluster(3);
    for (const n of cluster.nodes) {
      remember(n);
      tempDirs.add(dirname(n.storeDir));
    }
    const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      await jsm.streams.add({ name: 'R3', subjects: ['r3.>'], num_replicas: 3 });
      const js = jetstream(nc, { timeout: 2_000 });
      await js.publish('r3.a', JSON.stringify({ n: 1 }), { msgID: 'a' });

      const leaderName = await eventually(
        async () => (await jsm.streams.info('R3')).cluster?.leader ?? false,
        {
          message: 'the R3 stream to have a leader',
        },
      );
      const victim = cluster.nodes.find((n) => n.name === leaderName);
      expect(victim, `stream leader ${leaderName}`).toBeDefined();
      await victim?.kill();
      await eventually(() => js.publish('r3.b', JSON.stringify({ n: 2 }), { msgID: 'b' }), {
        message: 'a publish to the R3 stream with its leader killed',
      });
      const msgs = await eventually(() => readStream(nc, 'R3'), { message: 'reading R3 with one node down' });
      expect(msgs.map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }]);

      await victim?.start();
      if (victim) remember(victim);
      await eventually(
        async () => {
          const replicas = (await jsm.streams.info('R3')).cluster?.replicas ?? [];
          return replicas.length === 2 && replicas.every((r) => r.current && !r.offline);
        },
        { message: 'the restarted node to catch up as a current R3 replica' },
      );
    } finally {
      await nc.close();
    }
  });
});

describe('cleanup', () => {
  it('leaves no process and no temp dir behind after close()', async () => {
    expect(servers.length).toBe(3);
    expect(tempDirs.size).toBe(6);
    await Promise.all(servers.map((s) => s.close()));
    await cluster?.close();
    await cluster?.close(); // idempotent
    await servers[0]?.close(); // idempotent
    await expect(servers[0]?.start()).rejects.toMatchObject({ code: HarnessErrorCode.Closed });
    await closeAll();

    // Checked by working directory as well as pid: a pid can be reused by another test's process.
    // Backends killed with their postmaster are reparented to init; until it reaps them they are
    // zombies, which isAlive counts as dead.
    for (const pid of serverPids) expect(ours(pid, [...tempDirs]), `server pid ${pid}`).toBe(false);
    for (const pid of backendPids) expect(ours(pid, [...tempDirs]), `backend pid ${pid}`).toBe(false);
    for (const dir of tempDirs) expect(existsSync(dir), dir).toBe(false);
    expect(listLeftovers()).toEqual({ pids: [], dirs: [] });
  });
});

/** Whether `pid` is a live process working inside one of `dirs` (a server of this test). */
function ours(pid: number, dirs: readonly string[]): boolean {
  if (!isAlive(pid)) return false;
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`).replace(/ \(deleted\)$/, '');
  } catch {
    return false; // gone meanwhile
  }
  return dirs.some((d) => cwd === d || cwd.startsWith(d + '/'));
}
