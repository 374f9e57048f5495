/**
 * The previous-row lookup chain with plain data: the row cache, stored facts read through an
 * in-memory fact store, reads started ahead of processing, and the replay zone's stored versions.
 */
import { describe, expect, it } from 'vitest';
import { testCatalog } from './testing.js';
import { formatVersion, type Position } from '../../schemas/versions.js';
import type { FactStore, TableInfo } from '../ports.js';
import type { PgoutputMessage, RelationMessage } from '../source/pgoutput.js';
import { EventBodies, keyObject, txPrefix, type TxPlace } from './event-bodies.js';
import { cachedRow, PreviousRows, rowFromFact, storedCovers, versionOfFact } from './previous-row.js';
import { RowCache } from './row-cache.js';
import { describeRelation, keyTokenOf, MemorySchemaRegistry } from './tables.js';

const catalog = testCatalog();

const relation = (columns: [string, number][]): RelationMessage => ({
  tag: 'relation',
  relationId: 1,
  schema: 'public',
  table: 'accounts',
  replicaIdentity: 'default',
  columns: columns.map(([name, typeOid]) => ({ isKey: name === 'id', name, typeOid, typeMod: -1 })),
});

const LSN = 0x1_0000_0010n;
const place: TxPlace = {
  xid: 7,
  commitLsn: LSN,
  time: '2026-12-01T04:00:00.000000Z',
  txPrefix: txPrefix(7, LSN, '2026-12-01T04:00:00.000000Z'),
  context: '',
};
const bodies = new EventBodies('src');

/** A stored fact's text, as the facts stream holds it. */
function factText(t: TableInfo, row: string[] | null, idx = 1): string {
  const token = keyTokenOf(t, row ?? ['1']);
  const deleted = row === null;
  return bodies.fact(
    place,
    t,
    deleted ? 'delete' : 'update',
    t.factPrefix + token,
    token,
    keyObject(t, row ?? ['1']),
    idx,
    formatVersion(LSN, idx),
    deleted,
    row,
    '',
  ).body;
}

/** A fact store over a map, counting reads; `gate` holds reads until released. */
function memoryFacts(stored: Map<string, string>) {
  const reads: string[] = [];
  let release: () => void = () => undefined;
  let gate: Promise<void> | null = null;
  const store: FactStore = {
    async lastFact(subject) {
      reads.push(subject);
      if (gate) await gate;
      return stored.get(subject) ?? null;
    },
    async purgeTable() {},
  };
  return {
    store,
    reads,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    release: () => release(),
  };
}

function rows(t: TableInfo, facts: FactStore, lastFact: Position | null = null) {
  const cache = new RowCache(100);
  let fetches = 0;
  const prev = new PreviousRows({ facts, cache, lastFact, onFetch: () => fetches++ });
  return { prev, cache, fetches: () => fetches, table: (id: number) => (id === 1 ? t : undefined) };
}

const updateWithoutOld = (id: string): PgoutputMessage => ({
  tag: 'update',
  relationId: 1,
  newTuple: [id, 'x'],
  oldTuple: null,
  keyTuple: null,
});

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('rowFromFact', () => {
  it('recovers the row of a stored fact, and null for a deleted or absent entity', async () => {
    const t = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
      ]),
      'cdc',
      catalog,
      new MemorySchemaRegistry(),
      null,
    );
    expect(rowFromFact(t, factText(t, ['1', '"ann"']))).toEqual(['1', '"ann"']);
    expect(rowFromFact(t, factText(t, null))).toBeNull();
    expect(rowFromFact(t, null)).toBeNull();
  });

  it('leaves a column added or retyped since the fact unknown, not null', async () => {
    const registry = new MemorySchemaRegistry();
    const v1 = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
        ['n', 23],
      ]),
      'cdc',
      catalog,
      registry,
      null,
    );
    const text = factText(v1, ['1', '"ann"', '5']);
    const v2 = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
        ['n', 20],
        ['added', 25],
      ]),
      'cdc',
      catalog,
      registry,
      { commitLsn: LSN + 1n, commitIdx: 0 },
    );
    expect(v2.schemaVersion).toBe(2);
    expect(rowFromFact(v2, text)).toEqual(['1', '"ann"', undefined, undefined]);
  });
});

describe('cachedRow', () => {
  it('returns the cached values under the same layout, and re-reads another layout by name', async () => {
    const registry = new MemorySchemaRegistry();
    const v1 = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
        ['n', 23],
      ]),
      'cdc',
      catalog,
      registry,
      null,
    );
    const entry = { columns: v1.columns, values: ['1', '"ann"', '5'] };
    expect(cachedRow(v1, entry)).toBe(entry.values);
    const v2 = await describeRelation(
      relation([
        ['n', 20],
        ['id', 23],
        ['name', 25],
      ]),
      'cdc',
      catalog,
      registry,
      {
        commitLsn: LSN + 1n,
        commitIdx: 0,
      },
    );
    // n changed type: its cached JSON form is the old type's, so it is unknown.
    expect(cachedRow(v2, entry)).toEqual([undefined, '1', '"ann"']);
  });
});

describe('stored versions', () => {
  it('reads the version of a stored fact and compares it with a position', async () => {
    const t = await describeRelation(
      relation([['id', 23]]),
      'cdc',
      catalog,
      new MemorySchemaRegistry(),
      null,
    );
    const v = versionOfFact(factText(t, ['1'], 4));
    expect(v).toBe(formatVersion(LSN, 4));
    expect(versionOfFact(null)).toBeNull();
    expect(storedCovers(v, { commitLsn: LSN, commitIdx: 4 })).toBe(true);
    expect(storedCovers(v, { commitLsn: LSN, commitIdx: 3 })).toBe(true);
    expect(storedCovers(v, { commitLsn: LSN, commitIdx: 5 })).toBe(false);
    expect(storedCovers(null, { commitLsn: LSN, commitIdx: 0 })).toBe(false);
  });
});

describe('PreviousRows', () => {
  it('serves the cache first, then the facts stream, and reads nothing when told not to', async () => {
    const t = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
      ]),
      'cdc',
      catalog,
      new MemorySchemaRegistry(),
      null,
    );
    const subject = t.factPrefix + '1';
    const f = memoryFacts(new Map([[subject, factText(t, ['1', '"stored"'])]]));
    const r = rows(t, f.store);
    expect(r.prev.lookup(t, subject, false)).toBeUndefined();
    const read = r.prev.lookup(t, subject, true);
    expect(read).toBeInstanceOf(Promise);
    expect(await read).toEqual(['1', '"stored"']);
    expect(r.fetches()).toBe(1);
    r.cache.set(subject, { columns: t.columns, values: ['1', '"cached"'] });
    expect(r.prev.lookup(t, subject, true)).toEqual(['1', '"cached"']);
    expect(f.reads).toEqual([subject]);
  });

  it('uses a read started ahead: synchronously once answered, awaited before', async () => {
    const t = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
      ]),
      'cdc',
      catalog,
      new MemorySchemaRegistry(),
      null,
    );
    const f = memoryFacts(
      new Map([
        [t.factPrefix + '1', factText(t, ['1', '"one"'])],
        [t.factPrefix + '2', factText(t, ['2', '"two"'])],
      ]),
    );
    const r = rows(t, f.store);
    r.prev.prefetch(updateWithoutOld('1'), r.table);
    await flush();
    expect(r.prev.lookup(t, t.factPrefix + '1', true)).toEqual(['1', '"one"']);
    f.hold();
    r.prev.prefetch(updateWithoutOld('2'), r.table);
    const pending = r.prev.lookup(t, t.factPrefix + '2', true);
    expect(pending).toBeInstanceOf(Promise);
    f.release();
    expect(await pending).toEqual(['2', '"two"']);
    expect(f.reads).toEqual([t.factPrefix + '1', t.factPrefix + '2']);
    expect(r.fetches()).toBe(2);
  });

  it('prefetches only what will need a read, and drops a read made stale by a change', async () => {
    const t = await describeRelation(
      relation([
        ['id', 23],
        ['name', 25],
      ]),
      'cdc',
      catalog,
      new MemorySchemaRegistry(),
      null,
    );
    const subject = t.factPrefix + '1';
    const f = memoryFacts(new Map([[subject, factText(t, ['1', '"old"'])]]));
    const r = rows(t, f.store);
    r.prev.prefetch({ tag: 'insert', relationId: 1, newTuple: ['1', 'x'] }, r.table);
    r.prev.prefetch({ ...updateWithoutOld('1'), oldTuple: ['1', 'y'] } as PgoutputMessage, r.table);
    r.prev.prefetch(updateWithoutOld('1'), () => undefined);
    expect(f.reads).toEqual([]);
    r.prev.prefetch(updateWithoutOld('1'), r.table);
    await flush();
    r.prev.changed(subject);
    // The answer arrived before the change: it is not used, the lookup reads again.
    const again = r.prev.lookup(t, subject, true);
    expect(again).toBeInstanceOf(Promise);
    await again;
    expect(f.reads).toEqual([subject, subject]);
  });

  it('in the replay zone, decides per entity whether a change fact is stored', async () => {
    const t = await describeRelation(
      relation([['id', 23]]),
      'cdc',
      catalog,
      new MemorySchemaRegistry(),
      null,
    );
    const a = t.factPrefix + '1';
    const b = t.factPrefix + '2';
    const f = memoryFacts(new Map([[a, factText(t, ['1'], 4)]]));
    const r = rows(t, f.store, { commitLsn: LSN, commitIdx: 9 });
    const pos = { commitLsn: LSN, commitIdx: 4 };
    expect(() => r.prev.factStored(a, pos)).toThrow(/not loaded/);
    await r.prev.loadStored([a, b]);
    expect(r.prev.factStored(a, pos)).toBe(true);
    expect(r.prev.factStored(a, { commitLsn: LSN, commitIdx: 5 })).toBe(false);
    expect(r.prev.factStored(b, pos)).toBe(false);
    // Past the last stored fact nothing is stored, loaded or not.
    expect(r.prev.factStored(a, { commitLsn: LSN, commitIdx: 10 })).toBe(false);
    expect(r.prev.loadStored([a, b])).toBeUndefined();
    r.prev.leftReplayZone();
    expect(() => r.prev.factStored(a, pos)).toThrow(/not loaded/);
  });
});
