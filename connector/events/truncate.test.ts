/**
 * TRUNCATE with plain data: the delta and the fact marker the contract accepts, what a replay
 * skips, and the barrier's order (drain, publish, drain, purge) against a recording sink.
 */
import { describe, expect, it } from 'vitest';
import { testCatalog } from './testing.js';
import { DeltaEvent, FactEvent } from '../../schemas/events.js';
import { formatVersion } from '../../schemas/versions.js';
import type { ChangeSink, FactStore, OutMessage, TableInfo, TxTicket } from '../ports.js';
import { EventBodies, txPrefix } from './event-bodies.js';
import { RowCache } from './row-cache.js';
import { describeRelation, MemorySchemaRegistry } from './tables.js';
import type { OpenTx } from './transaction.js';
import { truncateEvents, truncateTables } from './truncate.js';

const catalogWith = testCatalog;

async function table(relationId: number, name: string, keyed = true): Promise<TableInfo> {
  return describeRelation(
    {
      tag: 'relation',
      relationId,
      schema: 'public',
      table: name,
      replicaIdentity: keyed ? 'default' : 'nothing',
      columns: [{ isKey: keyed, name: 'id', typeOid: 23, typeMod: -1 }],
    },
    'cdc',
    catalogWith(keyed ? ['id'] : []),
    new MemorySchemaRegistry(),
    null,
  );
}

const LSN = 0x2_0000_0100n;
const TIME = '2026-12-01T05:00:00.000000Z';
function openTx(): OpenTx {
  return {
    xid: 9,
    commitLsn: LSN,
    time: TIME,
    txPrefix: txPrefix(9, LSN, TIME),
    context: '',
    idx: 0,
    ticket: { endLsn: null },
    deltas: 0,
    perTable: new Map(),
    messages: [],
    outbox: 0,
  };
}
const bodies = new EventBodies('src');

describe('truncateEvents', () => {
  it('builds a delta and a deleted fact marker on the table the contract accepts', async () => {
    const t = await table(1, 'orders');
    const e = truncateEvents(bodies, openTx(), t, 2, null, null);
    expect(e.markerSubject).toBe('cdc.fact.public.orders.@none');
    expect(e.purge).toBe(true);
    const delta = DeltaEvent.parse(JSON.parse(e.delta!.body));
    expect(delta.data).toMatchObject({
      op: 'truncate',
      table: 'public.orders',
      version: formatVersion(LSN, 2),
    });
    expect(e.fact!.subject).toBe(e.markerSubject);
    const fact = FactEvent.parse(JSON.parse(e.fact!.body));
    expect(fact.data).toMatchObject({ op: 'truncate', deleted: true, version: formatVersion(LSN, 2) });
  });

  it('skips what the streams hold already, and has no marker for a table without facts', async () => {
    const t = await table(1, 'orders');
    const stored = { commitLsn: LSN, commitIdx: 2 };
    const replay = truncateEvents(bodies, openTx(), t, 2, stored, stored);
    expect(replay.delta).toBeNull();
    expect(replay.fact).toBeNull();
    // The purge runs again on replay: it is idempotent and may not have run.
    expect(replay.purge).toBe(true);
    const half = truncateEvents(bodies, openTx(), t, 2, stored, { commitLsn: LSN, commitIdx: 1 });
    expect(half.delta).toBeNull();
    expect(half.fact).not.toBeNull();
    const keyless = truncateEvents(bodies, openTx(), await table(2, 'log', false), 3, null, null);
    expect(keyless.delta).not.toBeNull();
    expect(keyless.fact).toBeNull();
    expect(keyless.purge).toBe(false);
  });
});

describe('truncateTables', () => {
  it('is a barrier per table: drained, published, drained, purged; counts and forgets the rows', async () => {
    const orders = await table(1, 'orders');
    const log = await table(2, 'log', false);
    const steps: string[] = [];
    const sink: ChangeSink = {
      capacity: () => undefined,
      drained: async () => void steps.push('drained'),
      begin: () => ({ endLsn: null }),
      commit: () => undefined,
      publishChange: (_tx: TxTicket, d: OutMessage | null, f: OutMessage | null) =>
        void steps.push(`publish ${d?.subject ?? '-'} ${f?.subject ?? '-'}`),
      publishDelta: () => undefined,
      publishShared: () => undefined,
    };
    const facts: FactStore = {
      lastFact: async () => null,
      purgeTable: async (filter, marker) => void steps.push(`purge ${filter} below ${marker}`),
    };
    const cache = new RowCache(10);
    cache.set('cdc.fact.public.orders.1', { columns: orders.columns, values: ['1'] });
    cache.set('cdc.fact.public.other.1', { columns: orders.columns, values: ['1'] });
    const changed: string[] = [];
    const stats = { changes: 0 };
    const tx = openTx();
    await truncateTables(
      {
        sink,
        facts,
        cache,
        bodies,
        lastDelta: null,
        lastFact: null,
        stats,
        onChange: (t, k) => changed.push(`${t.name} ${k}`),
      },
      tx,
      [1, 2],
      (id) => (id === 1 ? orders : log),
    );
    expect(steps).toEqual([
      'drained',
      `publish ${orders.deltaPrefix.truncate}@none cdc.fact.public.orders.@none`,
      'drained',
      'purge cdc.fact.public.orders.* below cdc.fact.public.orders.@none',
      `publish ${log.deltaPrefix.truncate}@none -`,
      'drained',
    ]);
    expect(tx.idx).toBe(2);
    expect(tx.deltas).toBe(2);
    expect(stats.changes).toBe(2);
    expect([...tx.perTable]).toEqual([
      ['public.orders', 1],
      ['public.log', 1],
    ]);
    expect(changed).toEqual(['public.orders @none', 'public.log @none']);
    expect(cache.has('cdc.fact.public.orders.1')).toBe(false);
    expect(cache.has('cdc.fact.public.other.1')).toBe(true);
  });
});
