/**
 * Table shapes: unchanged TOAST values, partitioned tables, tables without identity (never broken
 * for the application), DDL mid-stream (schemaVersion), and a connector restart that has to read
 * the previous row back from the facts stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, liveFacts, waitForDeltas, type SluiceEnv, type DeltaLike, type FactLike } from './env.js';

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
  await env.sql(`
    CREATE TABLE docs (id bigserial PRIMARY KEY, title text, body text);
    CREATE TABLE events (id int NOT NULL, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE audit (at timestamptz DEFAULT now(), what text);
  `);
});

afterAll(async () => {
  await env?.close();
});

const data = <T>(m: { data: unknown }): T => (m.data as { data: T }).data;

/** ~20 kB of incompressible text, stored out of line (TOAST). */
function bigText(seed: number): string {
  let s = '';
  let x = seed;
  while (s.length < 20_000) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += x.toString(36);
  }
  return s;
}

describe('connector: table shapes', () => {
  it('keeps facts complete and deltas exact across unchanged TOAST, partitions, keyless tables and DDL', async () => {
    let c = env.startConnector({ SLUICE_SNAPSHOT: 'never' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    const body = bigText(1);
    await env.sql(`INSERT INTO docs (title, body) VALUES ('first', $1)`, [body]);
    await env.sql(`UPDATE docs SET title = 'renamed' WHERE id = 1`); // body is unchanged TOAST
    await env.sql(`INSERT INTO events VALUES (1, '2024-05-01', 'a'), (2, '2025-05-01', 'b')`);
    await env.sql(`UPDATE events SET v = 'b2' WHERE id = 2`);
    // moving a row across partitions is a delete + insert in the WAL
    await env.sql(`UPDATE events SET at = '2025-06-01' WHERE id = 1`);
    // the application's own UPDATE/DELETE of a table without identity keeps working
    await env.sql(`INSERT INTO audit (what) VALUES ('x')`);
    await env.sql(`UPDATE audit SET what = 'y'`);
    await env.sql(`DELETE FROM audit`);

    const deltas = await waitForDeltas(env, 8);
    const toastUpdate = data<DeltaLike>(deltas.find((m) => m.subject === 'cdc.delta.public.docs.update.1')!);
    expect(toastUpdate.changes).toEqual({ title: { old: 'first', new: 'renamed' } });
    expect(deltas.filter((m) => m.subject.startsWith('cdc.delta.public.events_'))).toEqual([]);
    expect(deltas.filter((m) => m.subject.startsWith('cdc.delta.public.events.')).length).toBe(5);
    expect(
      deltas.filter((m) => m.subject.startsWith('cdc.delta.public.audit.')).map((m) => m.subject),
    ).toEqual(['cdc.delta.public.audit.insert.@none']);
    let facts = liveFacts(await env.facts());
    expect(facts.get('cdc.fact.public.docs.1')?.row).toEqual({ id: '1', title: 'renamed', body });
    expect(facts.get('cdc.fact.public.docs.1')?.schemaVersion).toBe(1);

    // Restart: the row cache is gone, the next unchanged-TOAST update reads the row back from
    // the facts stream.
    await c.stop();
    await env.sql(`UPDATE docs SET title = 'third' WHERE id = 1`);
    c = env.startConnector({ SLUICE_SNAPSHOT: 'never' });
    await waitForDeltas(env, 2, 'cdc.delta.public.docs.update.1');
    facts = liveFacts(await env.facts());
    const after = facts.get('cdc.fact.public.docs.1');
    expect(after?.row).toEqual({ id: '1', title: 'third', body });

    // DDL mid-stream: a new column raises schemaVersion; facts carry the new column.
    await env.sql(`ALTER TABLE docs ADD COLUMN tags text[]`);
    await env.sql(`UPDATE docs SET tags = '{a,b}' WHERE id = 1`);
    const ddl = await waitForDeltas(env, 3, 'cdc.delta.public.docs.update.1');
    const last = data<DeltaLike>(ddl[ddl.length - 1]!);
    expect(last.schemaVersion).toBe(2);
    // the column did not exist before, so its old value is unknown: only `new`
    expect(last.changes).toEqual({ tags: { new: ['a', 'b'] } });
    facts = liveFacts(await env.facts());
    expect(facts.get('cdc.fact.public.docs.1')?.row).toEqual({
      id: '1',
      title: 'third',
      body,
      tags: ['a', 'b'],
    });
    const f = facts.get('cdc.fact.public.docs.1') as FactLike;
    expect(f.schemaVersion).toBe(2);
    await c.stop();
  });
});
