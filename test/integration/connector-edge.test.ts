/**
 * Bolting onto a database that was not made for Sluice: a role with REPLICATION that owns some
 * tables but not others, an unlogged table, a generated column, and names that need quoting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, liveFacts, waitForDeltas, type SluiceEnv } from './env.js';
import { encodeName } from '../../schemas/keys.js';

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
  const db = new URL(env.dbUrl).pathname.slice(1);
  await env.sql(`
    CREATE ROLE app LOGIN REPLICATION;
    GRANT CREATE ON DATABASE "${db}" TO app;
    GRANT CREATE ON SCHEMA public TO app;
    CREATE TABLE theirs (id int PRIMARY KEY, v text);
    CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
  `);
  await env.sql(`SET ROLE app;
    CREATE TABLE mine (id int PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);
    CREATE SCHEMA "Odd Schema";
    CREATE TABLE "Odd Schema"."Mixed Case" ("Key" text PRIMARY KEY, "a.b" int);
    INSERT INTO mine VALUES (1, 10);
    RESET ROLE;`);
});

afterAll(async () => {
  await env?.close();
});

describe('connector on a database it does not own', () => {
  it('captures what its role may capture and leaves the rest working', async () => {
    const url = env.dbUrl.replace('postgres@', 'app@');
    const c = env.startConnector({ SLUICE_DATABASE_URL: url });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
      {
        timeout: 30_000,
      },
    );
    await env.sql(`INSERT INTO mine VALUES (2, 20)`);
    await env.sql(`INSERT INTO "Odd Schema"."Mixed Case" VALUES ('a b', 1)`);
    // the application's writes to tables Sluice cannot capture keep working
    await env.sql(`INSERT INTO theirs VALUES (1, 'x'); UPDATE theirs SET v = 'y'; DELETE FROM theirs`);
    await env.sql(`INSERT INTO scratch VALUES (1); UPDATE scratch SET id = 2; DELETE FROM scratch`);

    const odd = `cdc.delta.${encodeName('Odd Schema')}.${encodeName('Mixed Case')}.insert.>`;
    await waitForDeltas(env, 1, odd);
    const deltas = await waitForDeltas(env, 1, 'cdc.delta.public.mine.insert.2');
    expect(deltas).toHaveLength(1);
    const all = await env.deltas();
    expect(all.some((m) => m.subject.includes('.theirs.') || m.subject.includes('.scratch.'))).toBe(false);
    // snapshot and streaming agree on the columns (pgoutput does not send generated columns)
    const facts = await eventually(async () => {
      const f = liveFacts(await env.facts());
      if (!f.has('cdc.fact.public.mine.1') || !f.has('cdc.fact.public.mine.2'))
        throw new Error('facts missing');
      return f;
    });
    expect(facts.get('cdc.fact.public.mine.1')).toMatchObject({ op: 'snapshot', row: { id: 1, a: 10 } });
    // row 2 was inserted while the initial snapshot ran: its latest fact is the insert, or a
    // snapshot fact published after it (never older)
    expect(facts.get('cdc.fact.public.mine.2')).toMatchObject({ row: { id: 2, a: 20 } });
    expect(['insert', 'snapshot']).toContain(facts.get('cdc.fact.public.mine.2')!.op);
    const oddFact = [...facts.values()].find((f) => f.table === 'Odd Schema.Mixed Case');
    expect(oddFact?.row).toEqual({ Key: 'a b', 'a.b': 1 });
    await c.stop();
  });
});
