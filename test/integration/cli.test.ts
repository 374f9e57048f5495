/**
 * The `sluice` command as a user meets it: bad configuration, unreachable servers, wal_level not
 * logical and missing privileges each give one sentence naming the cause and the fix; doctor,
 * status and teardown report and clean up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startPostgres, type PostgresServer } from '../harness/index.js';
import { startEnv, type SluiceEnv } from './env.js';
import { freePort } from '../harness/ports.js';
import { sluice } from './sluice-command.js';

let env: SluiceEnv;
let replicaPg: PostgresServer;

beforeAll(async () => {
  [env, replicaPg] = await Promise.all([startEnv(), startPostgres({ settings: { wal_level: 'replica' } })]);
  await env.sql(`CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE nokey (v text)`);
  await env.sql(`CREATE ROLE plain LOGIN`);
});

afterAll(async () => {
  await env?.close();
  await replicaPg?.close();
});

describe('sluice command', () => {
  it('prints help', async () => {
    const r = await sluice(['--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: sluice <command>');
  });

  it.each([
    [{}, /^sluice: databaseUrl \(SLUICE_DATABASE_URL\) is required\. Set SLUICE_DATABASE_URL\.\n$/],
    [
      { SLUICE_DATABASE_URL: 'postgres://u@h/db', SLUICE_NATS_URL: 'localhost' },
      /^sluice: natsUrl \(SLUICE_NATS_URL\): expected nats:\/\/host:port.*got "localhost"\.\n$/,
    ],
    [
      { SLUICE_DATABASE_URL: 'postgres://u@h/db', SLUICE_NATS_URL: 'nats://h:4222', SLUICE_HTTP_PORT: 'x' },
      /^sluice: httpPort \(SLUICE_HTTP_PORT\): .*got "x"\.\n$/,
    ],
  ])('refuses bad configuration %j with one sentence', async (e, message) => {
    const r = await sluice(['run'], e as Record<string, string>);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it('explains wal_level and missing privileges, and stops', async () => {
    const url = await replicaPg.createDatabase();
    const r = await sluice(['run'], {
      SLUICE_DATABASE_URL: url,
      SLUICE_NATS_URL: env.nats.url,
      SLUICE_HTTP_PORT: '0',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "sluice: wal_level is replica, but Sluice needs logical. Run ALTER SYSTEM SET wal_level = 'logical'; and restart PostgreSQL.",
    );
    const doctor = await sluice(['doctor'], { SLUICE_DATABASE_URL: url, SLUICE_NATS_URL: env.nats.url });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(
      /FAIL {2}wal_level = replica\n {6}fix: ALTER SYSTEM SET wal_level = 'logical'/,
    );

    const plainUrl = env.dbUrl.replace('postgres@', 'plain@');
    const p = await sluice(['run'], {
      SLUICE_DATABASE_URL: plainUrl,
      SLUICE_NATS_URL: env.nats.url,
      SLUICE_HTTP_PORT: '0',
    });
    expect(p.code).toBe(1);
    expect(p.stderr).toContain(
      'sluice: role plain may not use logical replication. Run ALTER ROLE plain WITH REPLICATION;',
    );
  });

  it('doctor names unreachable servers and tables without identity', async () => {
    const closed = await freePort();
    const r = await sluice(['doctor'], {
      SLUICE_DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/x`,
      SLUICE_NATS_URL: `nats://127.0.0.1:${closed}`,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL  cannot reach PostgreSQL at 127.0.0.1:${closed} (ECONNREFUSED).`);
    expect(r.stdout).toContain(`FAIL  cannot reach NATS at nats://127.0.0.1:${closed}`);

    const ok = await sluice(['doctor'], { ...env.env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('ok    wal_level = logical');
    expect(ok.stdout).toContain('warn  public.nokey: no primary key or replica identity');
    expect(ok.stdout).toContain('ok    public.t: replica identity default (primary key)');
    expect(ok.stdout).toContain('ok    JetStream enabled');
  });

  it('status reports lag and streams; teardown removes slot, publications and streams', async () => {
    const run = env.spawnConnector({ SLUICE_HTTP_PORT: String(await freePort()) });
    await eventually(async () => {
      const s = await sluice(['status', '--json'], { ...env.env });
      const report = JSON.parse(s.stdout) as {
        slot: { active: boolean } | null;
        streams: { name: string }[];
      };
      if (!report.slot?.active) throw new Error('slot not active yet');
      expect(report.streams.map((x) => x.name)).toEqual(['CDC_FACTS', 'CDC_DELTAS']);
    });
    await env.sql(`INSERT INTO t VALUES (1, 'a')`);
    await eventually(async () => {
      const s = await sluice(['status'], { ...env.env });
      expect(s.stdout).toMatch(/stream CDC_DELTAS: [1-9]\d* messages/);
    });
    // teardown refuses while the connector holds the slot
    const busy = await sluice(['teardown'], { ...env.env });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(
      /replication slot sluice is in use by process \d+\. Stop the running connector first\./,
    );
    // SIGTERM drains and exits 0
    expect(await run.kill('SIGTERM')).toBe(0);
    const down = await sluice(['teardown', '--streams'], { ...env.env });
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('dropped replication slot sluice');
    expect(down.stdout).toContain('dropped publication sluice');
    expect(down.stdout).toContain('deleted stream CDC_FACTS');
    const slots = await env.sql(`SELECT count(*)::int AS n FROM pg_replication_slots`);
    expect(slots.rows[0]!.n).toBe(0);
    const pubs = await env.sql(`SELECT count(*)::int AS n FROM pg_publication`);
    expect(pubs.rows[0]!.n).toBe(0);
  });
});
