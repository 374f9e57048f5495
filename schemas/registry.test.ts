import { describe, expect, it } from 'vitest';
import {
  columnsOf,
  dataschemaUri,
  parseDataschema,
  resolveVersion,
  schemaBucketName,
  schemaKey,
  SchemaRegistryReader,
  tableOfSchemaKey,
  versionAt,
  type SchemaKv,
  type StoredSchemaVersion,
  type TableShape,
} from './registry.js';
import type { Position } from './versions.js';

const shape = (fingerprint: string, table = 'public.t'): TableShape => ({
  table,
  fingerprint,
  columns: [{ name: 'id', type: 'pg_catalog.int4', typeOid: 23, typeMod: -1, nullable: false }],
  key: ['id'],
  schema: { title: table },
});
const pos = (commitLsn: number, commitIdx = 0): Position => ({ commitLsn: BigInt(commitLsn), commitIdx });

/** Runs resolveVersion over an in-memory history, as the KV writer does. */
function registry() {
  let history: StoredSchemaVersion[] = [];
  return {
    resolve(fp: string, at: Position | null) {
      const r = resolveVersion(history, shape(fp), at);
      if (r.write) history = r.write;
      return { v: r.entry.version, changed: r.changed, previous: r.previous?.version ?? null };
    },
    get history() {
      return history;
    },
  };
}

describe('resolveVersion', () => {
  it('only ever raises schemaVersion, marks each change at its position, and a replay finds the same', () => {
    const r = registry();
    const firstRun = [
      r.resolve('A', pos(100, 0)),
      r.resolve('A', pos(150, 3)), // Relation resent (reconnect, relcache invalidation): no change
      r.resolve('B', pos(200, 2)),
      r.resolve('A', pos(300, 0)), // back to the first layout: a new, higher version
    ];
    expect(firstRun).toEqual([
      { v: 1, changed: true, previous: null },
      { v: 1, changed: false, previous: null },
      { v: 2, changed: true, previous: 1 },
      { v: 3, changed: true, previous: 2 },
    ]);
    // A replay from an older checkpoint meets the same Relation messages at the same positions.
    expect([
      r.resolve('A', pos(100, 0)),
      r.resolve('A', pos(120, 1)),
      r.resolve('B', pos(200, 2)),
      r.resolve('B', pos(250, 0)),
      r.resolve('A', pos(300, 0)),
      r.resolve('A', pos(310, 5)),
    ]).toEqual([
      { v: 1, changed: true, previous: null },
      { v: 1, changed: false, previous: null },
      { v: 2, changed: true, previous: 1 },
      { v: 2, changed: false, previous: null },
      { v: 3, changed: true, previous: 2 },
      { v: 3, changed: false, previous: null },
    ]);
    expect(r.history.map((v) => v.position)).toEqual([
      '0000000000000064-00000000',
      '00000000000000c8-00000002',
      '000000000000012c-00000000',
    ]);
  });

  it('two shapes in one transaction get positions of their own', () => {
    const r = registry();
    expect(r.resolve('A', pos(100, 0)).v).toBe(1);
    expect(r.resolve('B', pos(100, 4))).toEqual({ v: 2, changed: true, previous: 1 });
    expect(r.resolve('A', pos(100, 2))).toEqual({ v: 1, changed: false, previous: null });
    expect(r.resolve('B', pos(100, 4)).changed).toBe(true);
  });

  it('the stream claims a version the snapshotter recorded, once', () => {
    const r = registry();
    expect(r.resolve('A', null)).toEqual({ v: 1, changed: false, previous: null });
    expect(r.resolve('A', null).v).toBe(1);
    expect(r.resolve('A', pos(500, 1))).toEqual({ v: 1, changed: true, previous: null });
    expect(r.resolve('A', pos(600, 0)).changed).toBe(false);
    expect(r.history[0]!.since).toBe('500');
    // The snapshotter meets a newer layout before the stream does.
    expect(r.resolve('B', null)).toEqual({ v: 2, changed: false, previous: null });
    expect(r.resolve('A', pos(650, 0))).toEqual({ v: 1, changed: false, previous: null });
    expect(r.resolve('B', pos(700, 0))).toEqual({ v: 2, changed: true, previous: 1 });
  });

  it('the snapshotter ahead of the stream: several recorded versions, each claimed in turn', () => {
    const r = registry();
    expect(r.resolve('A', null).v).toBe(1); // snapshot of the table
    expect(r.resolve('B', null).v).toBe(2); // DDL, then a snapshot again before the stream got there
    expect(r.resolve('A', pos(100, 0))).toEqual({ v: 1, changed: true, previous: null });
    expect(r.resolve('A', pos(150, 0)).changed).toBe(false);
    expect(r.resolve('B', pos(200, 0))).toEqual({ v: 2, changed: true, previous: 1 });
    expect(r.resolve('A', pos(100, 0))).toEqual({ v: 1, changed: true, previous: null }); // replay
    expect(r.history.map((v) => v.position)).toEqual([
      '0000000000000064-00000000',
      '00000000000000c8-00000000',
    ]);
  });

  it('reads entries written before positions were kept, and never announces them', () => {
    const legacy: StoredSchemaVersion[] = [
      { version: 1, fingerprint: 'A', since: '0', schema: { properties: { id: { type: 'integer' } } } },
      {
        version: 2,
        fingerprint: 'B',
        since: '400',
        schema: { properties: { id: { type: ['string', 'null'] } } },
      },
    ];
    expect(resolveVersion(legacy, shape('B'), pos(400, 0))).toMatchObject({ changed: false, write: null });
    expect(resolveVersion(legacy, shape('B'), pos(450, 0)).entry.version).toBe(2);
    expect(versionAt(legacy, pos(399, 9))).toBeUndefined();
    expect(columnsOf(legacy[1]!)).toEqual([
      { name: 'id', type: 'unknown', typeOid: 0, typeMod: -1, nullable: true },
    ]);
  });
});

describe('names', () => {
  it.each([
    ['public.orders', 'public.orders'],
    ['Odd Schema.Mixed Case', '=T2RkIFNjaGVtYQ.=TWl4ZWQgQ2FzZQ'],
    ['public.a.b', 'public.=YS5i'],
  ])('KV key of %s is %s and decodes back', (table, key) => {
    expect(schemaKey(table)).toBe(key);
    expect(tableOfSchemaKey(key)).toBe(table);
  });

  it.each([
    ['public.orders', 3, 'urn:sluice:schema:public.orders:3'],
    ['public.Order Items', 1, 'urn:sluice:schema:public.~T3JkZXIgSXRlbXM:1'],
  ])('dataschema of %s v%d', (table, v, uri) => {
    expect(dataschemaUri(table, v)).toBe(uri);
    expect(parseDataschema(uri)).toEqual({ table, version: v });
  });

  it('names the bucket and refuses other URIs', () => {
    expect(schemaBucketName('my-app')).toBe('MY_APP_SCHEMAS');
    expect(parseDataschema('https://example.com/x')).toBeNull();
  });
});

describe('SchemaRegistryReader', () => {
  it('fetches the exact schema of an old event from its dataschema', async () => {
    const r = registry();
    r.resolve('A', pos(1));
    r.resolve('B', pos(2));
    const store = new Map([[schemaKey('public.t'), JSON.stringify(r.history)]]);
    const kv: SchemaKv = {
      get: async (k) => {
        const v = store.get(k);
        return v === undefined ? null : { revision: 1, length: v.length, string: () => v };
      },
      keys: async () =>
        (async function* () {
          yield* store.keys();
        })(),
    };
    const reader = new SchemaRegistryReader(kv);
    expect((await reader.forEvent({ dataschema: 'urn:sluice:schema:public.t:1' }))?.fingerprint).toBe('A');
    expect((await reader.forEvent({ dataschema: 'urn:sluice:schema:public.t:2' }))?.fingerprint).toBe('B');
    expect(await reader.forEvent({ dataschema: 'urn:sluice:schema:public.t:3' })).toBeNull();
    expect([...(await reader.all()).keys()]).toEqual(['public.t']);
  });
});
