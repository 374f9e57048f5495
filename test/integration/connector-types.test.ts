/**
 * The type matrix through the whole pipeline: values written by PostgreSQL, decoded from pgoutput
 * by the connector, published to JetStream — compared value by value with the expected JSON.
 * The same changes on a REPLICA IDENTITY FULL copy of the table must give identical facts and
 * deltas (old values come from Sluice's own facts without FULL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, waitForDeltas, type SluiceEnv, type DeltaLike, type FactLike } from './env.js';
import { column, createTypeTable, insertTypeRows, type Case } from './type-cases.js';

let env: SluiceEnv;
let used: { c: Case; i: number }[];

beforeAll(async () => {
  env = await startEnv();
  ({ used } = await createTypeTable({ query: (q: string, p?: unknown[]) => env.sql(q, p) }, 'types_default'));
  await createTypeTable({ query: (q: string, p?: unknown[]) => env.sql(q, p) }, 'types_full', {
    createTypes: false,
  });
  await env.sql('ALTER TABLE types_full REPLICA IDENTITY FULL');
});

afterAll(async () => {
  await env?.close();
});

function data<T>(m: { data: unknown }): T {
  return (m.data as { data: T }).data;
}

describe('type matrix through the connector', () => {
  it('publishes every value losslessly, identically with default and FULL replica identity', async () => {
    const c = env.startConnector({ SLUICE_SNAPSHOT: 'never' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    for (const t of ['types_default', 'types_full']) {
      await insertTypeRows({ query: (q: string, p?: unknown[]) => env.sql(q, p) }, t, used);
      // key changes (a delete and an insert each), then row 12 takes every value of row 11
      await env.sql(`UPDATE ${t} SET id = id + 10`);
      const cols = used.map(({ i }) => column(i)).join(', ');
      await env.sql(`UPDATE ${t} SET (${cols}) = (SELECT ${cols} FROM ${t} WHERE id = 11) WHERE id = 12`);
      await env.sql(`DELETE FROM ${t} WHERE id = 11`);
    }
    // per table: 2 inserts, 2 key changes (delete + insert each), 1 update, 1 delete
    const deltas = await waitForDeltas(env, 16, 'cdc.delta.public.*.*.*');
    const facts = await eventually(async () => {
      const f = await env.facts();
      if (f.length < 4) throw new Error(`${f.length} facts`);
      return f;
    });

    // The first insert of types_default carries every value of the matrix.
    const firstInsert = data<DeltaLike>(
      deltas.find((m) => m.subject === 'cdc.delta.public.types_default.insert.1')!,
    );
    for (const { c: tc, i } of used) {
      const got = firstInsert.changes[column(i)]?.new;
      expect(got, `${tc.sqlType} ${JSON.stringify(tc.input)}`).toEqual(tc.expected);
    }
    const rawInsert = new TextDecoder().decode(
      deltas.find((m) => m.subject === 'cdc.delta.public.types_default.insert.1')!.raw,
    );
    for (const { c: tc, i } of used) {
      if (tc.fragment) expect(rawInsert).toContain(`"${column(i)}":{"new":${tc.fragment}}`);
    }
    // The NULL row maps every column to null.
    const nullInsert = data<DeltaLike>(
      deltas.find((m) => m.subject === 'cdc.delta.public.types_default.insert.2')!,
    );
    for (const { i } of used) expect(nullInsert.changes[column(i)]).toEqual({ new: null });

    // default vs FULL: same deltas and facts, apart from table name, version and tx
    const strip = (d: DeltaLike | FactLike) => {
      const { table: _t, version: _v, tx: _x, schemaVersion: _s, ...rest } = d;
      return rest;
    };
    const byTable = (t: string) => deltas.filter((m) => m.subject.startsWith(`cdc.delta.public.${t}.`));
    const dd = byTable('types_default');
    const df = byTable('types_full');
    expect(dd.map((m) => m.subject.replace('types_default', 'T'))).toEqual(
      df.map((m) => m.subject.replace('types_full', 'T')),
    );
    expect(dd.map((m) => strip(data<DeltaLike>(m)))).toEqual(df.map((m) => strip(data<DeltaLike>(m))));
    const factsOf = (t: string) =>
      facts.filter((m) => m.subject.startsWith(`cdc.fact.public.${t}.`)).map((m) => strip(data<FactLike>(m)));
    expect(factsOf('types_default')).toEqual(factsOf('types_full'));
    // the surviving row 12 holds the matrix values, and its update delta changed every column
    const live = facts.find((m) => m.subject === 'cdc.fact.public.types_default.12');
    const liveRow = data<FactLike>(live!).row!;
    for (const { c: tc, i } of used) expect(liveRow[column(i)], tc.sqlType).toEqual(tc.expected);
    const upd = data<DeltaLike>(
      deltas.find((m) => m.subject === 'cdc.delta.public.types_default.update.12')!,
    );
    // (a jsonb 'null' and SQL NULL are the same JSON, so that column shows no change: documented)
    for (const { c: tc, i } of used.filter(({ c: x }) => x.expected !== null)) {
      expect(upd.changes[column(i)], tc.sqlType).toEqual({ old: null, new: tc.expected });
    }
    await c.stop();
  });
});
