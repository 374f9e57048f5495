import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, liveFacts, waitForDeltas, type SluiceEnv, type DeltaLike, type FactLike } from './env.js';
import { FactEvent, DeltaEvent, TxMarkerEvent } from '../../schemas/events.js';
import { encodeKey } from '../../schemas/keys.js';

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
  await env.sql(`
    CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, note text);
    CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
    CREATE TABLE log (at timestamptz DEFAULT now(), msg text);
  `);
});

afterAll(async () => {
  await env?.close();
});

describe('connector: insert, update, delete, truncate', () => {
  it('turns every committed change into a fact and a delta, in commit order', async () => {
    const c = env.startConnector({ SLUICE_SNAPSHOT: 'never' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    await env.sql(`INSERT INTO items VALUES (1, 'apple', 3, NULL), (2, 'pear', 5, 'ripe')`);
    await env.sql(`UPDATE items SET qty = 4 WHERE id = 1`);
    await env.sql(`DELETE FROM items WHERE id = 2`);
    await env.sql(`BEGIN; INSERT INTO pairs VALUES (1, 'x y', 'v1'); UPDATE pairs SET v = 'v2'; COMMIT;`);
    await env.sql(`INSERT INTO log (msg) VALUES ('hello')`);

    const deltas = await waitForDeltas(env, 7);
    const changeDeltas = deltas.filter((m) => m.subject.startsWith('cdc.delta.'));
    expect(changeDeltas.map((m) => m.subject)).toEqual([
      'cdc.delta.public.items.insert.1',
      'cdc.delta.public.items.insert.2',
      'cdc.delta.public.items.update.1',
      'cdc.delta.public.items.delete.2',
      `cdc.delta.public.pairs.insert.${encodeKey([1, 'x y'])}`,
      `cdc.delta.public.pairs.update.${encodeKey([1, 'x y'])}`,
      'cdc.delta.public.log.insert.@none',
    ]);
    for (const m of deltas) {
      DeltaEvent.parse(m.data);
      expect(m.headers['Nats-Msg-Id']).toBe((m.data as { id: string }).id);
    }
    const upd = (changeDeltas[2]!.data as { data: DeltaLike }).data;
    expect(upd.changes).toEqual({ qty: { old: 3, new: 4 } });
    const del = (changeDeltas[3]!.data as { data: DeltaLike }).data;
    expect(del.changes).toEqual({
      id: { old: 2 },
      name: { old: 'pear' },
      qty: { old: 5 },
      note: { old: 'ripe' },
    });
    // versions rise strictly in stream order
    const versions = changeDeltas.map((m) => (m.data as { data: DeltaLike }).data.version);
    expect([...versions].sort()).toEqual(versions);
    expect(new Set(versions).size).toBe(versions.length);

    const facts = await eventually(async () => {
      const f = await env.facts();
      if (f.length < 3) throw new Error('facts not there yet');
      return f;
    });
    for (const m of facts) FactEvent.parse(m.data);
    const live = liveFacts(facts);
    expect(live.get('cdc.fact.public.items.1')?.row).toEqual({ id: 1, name: 'apple', qty: 4, note: null });
    expect(live.has('cdc.fact.public.items.2')).toBe(false);
    const deleted = facts.find((m) => m.subject === 'cdc.fact.public.items.2')!.data as { data: FactLike };
    expect(deleted.data).toMatchObject({
      deleted: true,
      op: 'delete',
      row: { id: 2, name: 'pear', qty: 5, note: 'ripe' },
    });
    expect(live.get(`cdc.fact.public.pairs.${encodeKey([1, 'x y'])}`)?.row).toEqual({
      a: 1,
      b: 'x y',
      v: 'v2',
    });
    // no facts for the table without identity
    expect(facts.some((m) => m.subject.includes('.log.'))).toBe(false);

    // the transaction marker counts the events of its transaction
    const markers = await waitForDeltas(env, 5, 'cdc.tx.*');
    for (const m of markers) TxMarkerEvent.parse(m.data);
    const pairsTx = markers.map(
      (m) => (m.data as { data: { tables: Record<string, number>; events: number } }).data,
    );
    expect(pairsTx).toContainEqual(expect.objectContaining({ events: 2, tables: { 'public.pairs': 2 } }));

    // TRUNCATE: a delta and a fact marker; the table's facts are purged below the marker
    await env.sql(`TRUNCATE items`);
    await waitForDeltas(env, 1, 'cdc.delta.public.items.truncate.>');
    await eventually(async () => {
      const f = (await env.facts()).filter((m) => m.subject.startsWith('cdc.fact.public.items.'));
      expect(f.map((m) => m.subject)).toEqual(['cdc.fact.public.items.@none']);
    });
    await c.stop();
  });
});
