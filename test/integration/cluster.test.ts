/**
 * Against a 3-node JetStream cluster with replicated streams: losing the streams' leader mid-stream
 * loses nothing and duplicates nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import {
  eventually,
  readStream,
  startNatsCluster,
  startPostgres,
  type NatsCluster,
  type PostgresServer,
} from '../harness/index.js';
import { loadConfig } from '../../connector/config.js';
import { Connector } from '../../connector/connector.js';
import { silentLogger } from '../../connector/logger.js';

let cluster: NatsCluster;
let pgServer: PostgresServer;
let nc: NatsConnection;
let dbUrl: string;

beforeAll(async () => {
  [cluster, pgServer] = await Promise.all([startNatsCluster(3), startPostgres()]);
  dbUrl = await pgServer.createDatabase();
  nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1 });
  await pgServer.query(
    'CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)',
    [],
    dbUrl.split('/').pop(),
  );
});

afterAll(async () => {
  await nc?.close();
  await cluster?.close();
  await pgServer?.close();
});

describe('NATS cluster', () => {
  it('keeps every change exactly once when the stream leader dies', async () => {
    const cfg = loadConfig({
      env: {
        SLUICE_DATABASE_URL: dbUrl,
        SLUICE_NATS_URL: cluster.urls.join(','),
        SLUICE_HTTP_PORT: '0',
        SLUICE_STREAM_REPLICAS: '3',
        SLUICE_ACK_TIMEOUT_SEC: '5',
      },
    });
    const connector = new Connector(cfg, silentLogger());
    const abort = new AbortController();
    const done = connector.run(abort.signal);
    await eventually(
      () => connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('CDC_DELTAS');
    expect(info.config.num_replicas).toBe(3);

    let i = 0;
    const writes = async (n: number) => {
      for (const end = i + n; i < end; i++) await db.query('INSERT INTO counters VALUES ($1, $1)', [i]);
    };
    await writes(200);
    const leaderName = (await jsm.streams.info('CDC_DELTAS')).cluster?.leader;
    const leader = cluster.nodes.find((n) => n.name === leaderName)!;
    expect(leader).toBeDefined();
    const writing = writes(300);
    await leader.kill();
    await writing;
    await leader.start();
    await eventually(
      async () => {
        const s = await jsm.streams.info('CDC_DELTAS');
        if (s.state.messages < 1000) throw new Error(`${s.state.messages} deltas`);
      },
      { timeout: 90_000, interval: 250 },
    );
    const deltas = await readStream(nc, 'CDC_DELTAS', { filter: 'cdc.delta.>' });
    const ids = deltas.map((m) => m.headers['Nats-Msg-Id']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(deltas.length).toBe(500);
    const keys = deltas.map((m) => Number(m.subject.split('.').pop()));
    expect(keys).toEqual([...Array(500).keys()]);
    await db.end();
    abort.abort();
    await done;
  });
});
