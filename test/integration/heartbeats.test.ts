/**
 * Heartbeats against real servers: a source database whose captured tables are idle while another
 * database on the same server writes. The slot must keep advancing (confirmed_flush_lsn passes
 * the other database's WAL, retained WAL stays small), position heartbeats must appear in the
 * deltas stream with rising positions, and a consumer of the deltas stream must see the position
 * pass a given LSN within a few seconds; with heartbeats off, the walsender's keepalives alone keep
 * the slot advancing. The truth comes from PostgreSQL (pg_replication_slots,
 * pg_current_wal_lsn()), never from the connector.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { eventually } from '../harness/index.js';
import { startEnv, type SluiceEnv } from './env.js';
import { checkStreams } from './faults-helpers.js';
import { HeartbeatEvent } from '../../schemas/events.js';
import { parseLsn, parseVersion } from '../../schemas/versions.js';

let env: SluiceEnv;
let other: pg.Client;

/** Settings of these tests: a heartbeat every second, only the table `t` captured. */
const SETTINGS = { SLUICE_HEARTBEAT_INTERVAL_SEC: '1', SLUICE_TABLES: 'public.t', SLUICE_SNAPSHOT: 'never' };

beforeAll(async () => {
  env = await startEnv();
  await env.sql(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
  other = new pg.Client({ connectionString: await env.pg.createDatabase() });
  await other.connect();
  await other.query(`CREATE TABLE filler (id bigserial PRIMARY KEY, pad text)`);
});

afterAll(async () => {
  await other?.end().catch(() => undefined);
  await env?.close();
});

async function currentLsn(): Promise<bigint> {
  return parseLsn((await env.sql<{ l: string }>(`SELECT pg_current_wal_lsn()::text AS l`)).rows[0]!.l);
}

async function slot(): Promise<{ confirmed: bigint; retained: number }> {
  const r = await env.sql<{ c: string; retained: string }>(
    `SELECT confirmed_flush_lsn::text AS c, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 AS retained
       FROM pg_replication_slots WHERE slot_name = 'sluice'`,
  );
  return { confirmed: parseLsn(r.rows[0]!.c), retained: Number(r.rows[0]!.retained) };
}

/** About `mb` MiB of WAL written by another database on the same server. */
async function writeElsewhere(mb: number): Promise<void> {
  for (let i = 0; i < mb; i++) {
    await other.query(
      `INSERT INTO filler (pad) SELECT repeat(md5(g::text), 32) FROM generate_series(1, 900) g`,
    );
  }
}

describe('heartbeats', () => {
  it('add the heartbeat subject to a deltas stream made by an earlier Sluice, keeping its messages', async () => {
    const jsm = await jetstreamManager(env.nc);
    await jsm.streams.add({ name: 'OLD_DELTAS', subjects: ['old.delta.>', 'old.tx.>'] });
    await jetstream(env.nc).publish('old.tx.1', '{"data":{"version":"0000000000000001-ffffffff"}}', {
      msgID: 'earlier',
    });
    const c = env.startConnector({
      ...SETTINGS,
      SLUICE_PREFIX: 'old',
      SLUICE_SLOT: 'old',
      SLUICE_PUBLICATION: 'old',
    });
    await eventually(async () => {
      const hb = await env.deltas('old');
      if (!hb.some((m) => m.subject === 'old.heartbeat'))
        throw new Error('no heartbeat on old.heartbeat yet');
    });
    const info = await jsm.streams.info('OLD_DELTAS');
    expect(info.config.subjects).toEqual(['old.delta.>', 'old.tx.>', 'old.schema.>', 'old.heartbeat']);
    expect((await env.deltas('old'))[0]!.subject).toBe('old.tx.1');
    await c.stop();
    await env.sql(`SELECT pg_drop_replication_slot('old')`);
  });

  it('keep the slot of an idle database advancing while another database writes', async () => {
    const c = env.startConnector(SETTINGS);
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    await env.sql(`INSERT INTO t VALUES (1, 'a')`);
    const start = await currentLsn();

    await writeElsewhere(64);
    const written = await currentLsn();
    expect(Number(written - start), 'WAL written by the other database').toBeGreaterThan(48 * 1024 * 1024);

    // The slot confirms past everything the other database wrote...
    await eventually(
      async () => {
        const s = await slot();
        if (s.confirmed < written)
          throw new Error(`confirmed ${s.confirmed.toString(16)} < ${written.toString(16)}`);
      },
      { timeout: 30_000, interval: 250, message: 'confirmed_flush_lsn to pass the other database’s WAL' },
    );
    // ...and lets the server recycle it: the slot retains a small part of it. (restart_lsn moves
    // when the walsender decodes a running-transactions record, which the server logs at most
    // every 15 s.)
    const retained = await eventually(
      async () => {
        const s = await slot();
        if (s.retained > 8 * 1024 * 1024) throw new Error(`slot retains ${s.retained} bytes`);
        return s.retained;
      },
      { timeout: 60_000, interval: 500, message: 'the slot to release the other database’s WAL' },
    );
    console.log(
      `heartbeats: ${Number(written - start) >> 20} MiB written elsewhere; slot retains ${retained} bytes; ` +
        `${c.connector.metrics.heartbeatsWritten} heartbeats written`,
    );
    await c.stop();
  });

  it('keep the slot advancing on keepalives alone when heartbeats are off', async () => {
    // No heartbeat transaction: only the walsender's keepalives, whose position travels the
    // pipeline to the checkpoint, can move the slot past the other database's WAL.
    const c = env.startConnector({ ...SETTINGS, SLUICE_HEARTBEAT_INTERVAL_SEC: '0' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    const deltasBefore = (await env.deltas()).length;
    await writeElsewhere(4);
    const written = await currentLsn();
    await eventually(
      async () => {
        const s = await slot();
        if (s.confirmed < written)
          throw new Error(`confirmed ${s.confirmed.toString(16)} < ${written.toString(16)}`);
      },
      {
        timeout: 30_000,
        interval: 250,
        message: 'confirmed_flush_lsn to pass the other database’s WAL on keepalives',
      },
    );
    expect(c.connector.metrics.heartbeatsWritten).toBe(0);
    expect((await env.deltas()).length, 'nothing published').toBe(deltasBefore);
    await c.stop();
  });

  it('publish position heartbeats a consumer of the deltas stream sees pass a given LSN within seconds', async () => {
    const c = env.startConnector(SETTINGS);
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    const js = jetstream(env.nc);
    const consumer = await js.consumers.get('CDC_DELTAS', {
      filter_subjects: 'cdc.heartbeat',
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    try {
      // The fence: a write elsewhere (another database: no event of its own ever carries it).
      await writeElsewhere(1);
      const fence = await currentLsn();
      const asked = Date.now();
      let seen: bigint | null = null;
      for await (const m of messages) {
        const ev = HeartbeatEvent.parse(m.json());
        expect(m.headers?.get('Nats-Msg-Id')).toBe(ev.id);
        if (parseLsn(ev.data.lsn) >= fence) {
          seen = parseLsn(ev.data.lsn);
          break;
        }
      }
      const waitedMs = Date.now() - asked;
      console.log(`heartbeats: the deltas stream passed LSN ${fence.toString(16)} after ${waitedMs} ms`);
      expect(seen).not.toBeNull();
      expect(waitedMs, 'ms until a heartbeat passed the fence').toBeLessThan(5_000);
    } finally {
      await messages.close();
    }

    // A change in between: its commit marker carries the position, heartbeats resume when idle.
    await env.sql(`INSERT INTO t VALUES (2, 'b')`);
    const afterChange = await currentLsn();
    await eventually(
      async () => {
        const hb = (await env.deltas()).filter((m) => m.subject === 'cdc.heartbeat');
        const last = hb.at(-1)?.data as { data: { lsn: string } } | undefined;
        if (!last || parseLsn(last.data.lsn) < afterChange)
          throw new Error('no heartbeat after the change yet');
      },
      { timeout: 15_000, message: 'a heartbeat after the change' },
    );
    await c.stop();

    // A restart publishes nothing twice and keeps the positions rising.
    const c2 = env.startConnector(SETTINGS);
    const before = (await env.deltas()).length;
    await eventually(
      async () => {
        if ((await env.deltas()).length < before + 2) throw new Error('no new heartbeats after the restart');
      },
      { timeout: 20_000, message: 'heartbeats after a restart' },
    );
    await c2.stop();

    const summary = await checkStreams(env); // ids once, versions strictly rising (heartbeats included)
    const heartbeats = summary.deltas.filter((m) => m.subject === 'cdc.heartbeat');
    expect(summary.heartbeats).toBe(heartbeats.length);
    expect(heartbeats.length).toBeGreaterThan(3);
    const positions = heartbeats.map((m) =>
      parseVersion((m.data as { data: { version: string } }).data.version),
    );
    for (let i = 1; i < positions.length; i++)
      expect(positions[i]!.commitLsn).toBeGreaterThan(positions[i - 1]!.commitLsn);
    // The slot never passed an unpublished change: both changes of `t` are in the stream.
    expect(summary.changesByTableOp['t.insert']).toBe(2);
  });
});
