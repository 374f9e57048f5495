/**
 * Snapshot facts with plain data: the fact of a row the contract accepts, rows a replay skips, the
 * indexes they take in the watermark's transaction, the cache, and the last row's acknowledgement.
 */
import { describe, expect, it } from 'vitest';
import { testCatalog } from './testing.js';
import { FactEvent } from '../../schemas/events.js';
import { formatVersion } from '../../schemas/versions.js';
import type { OutMessage, TableInfo } from '../ports.js';
import { EventBodies, txPrefix } from './event-bodies.js';
import { RowCache } from './row-cache.js';
import { emitSnapshotFacts, snapshotFact } from './snapshot-facts.js';
import { describeRelation, MemorySchemaRegistry } from './tables.js';
import type { OpenTx } from './transaction.js';

const catalog = testCatalog();
async function accounts(): Promise<TableInfo> {
  return describeRelation(
    {
      tag: 'relation',
      relationId: 1,
      schema: 'public',
      table: 'accounts',
      replicaIdentity: 'default',
      columns: [
        { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
        { isKey: false, name: 'name', typeOid: 25, typeMod: -1 },
      ],
    },
    'cdc',
    catalog,
    new MemorySchemaRegistry(),
    null,
  );
}

const LSN = 0x3_0000_0200n;
const TIME = '2026-12-01T06:00:00.000000Z';
function openTx(idx = 0): OpenTx {
  return {
    xid: 11,
    commitLsn: LSN,
    time: TIME,
    txPrefix: txPrefix(11, LSN, TIME),
    // Snapshot facts carry no context, whatever the transaction's.
    context: ',"context":{"user":"u1"}',
    idx,
    ticket: { endLsn: null },
    deltas: 0,
    perTable: new Map(),
    messages: [],
    outbox: 0,
  };
}
const bodies = new EventBodies('src');

describe('snapshotFact', () => {
  it('builds a snapshot fact the contract accepts, without context', async () => {
    const t = await accounts();
    const { subject, fact } = snapshotFact(bodies, openTx(), t, ['7', '"ann"'], 3, null);
    expect(subject).toBe('cdc.fact.public.accounts.7');
    expect(fact!.subject).toBe(subject);
    const e = FactEvent.parse(JSON.parse(fact!.body));
    expect(e.data).toMatchObject({
      op: 'snapshot',
      deleted: false,
      key: { id: 7 },
      row: { id: 7, name: 'ann' },
      version: formatVersion(LSN, 3),
    });
    expect(e.data.context).toBeUndefined();
  });

  it('is skipped at or below the stored position', async () => {
    const t = await accounts();
    expect(
      snapshotFact(bodies, openTx(), t, ['7', '"ann"'], 3, { commitLsn: LSN, commitIdx: 3 }).fact,
    ).toBeNull();
    expect(
      snapshotFact(bodies, openTx(), t, ['7', '"ann"'], 4, { commitLsn: LSN, commitIdx: 3 }).fact,
    ).not.toBeNull();
  });
});

describe('emitSnapshotFacts', () => {
  it('publishes rows at the next indexes, caches every row, skips a stored prefix, acks the last', async () => {
    const t = await accounts();
    const tx = openTx(5);
    const cache = new RowCache(10);
    const sent: { fact: OutMessage; ack: boolean }[] = [];
    let acked = 0;
    const n = await emitSnapshotFacts(
      {
        cache,
        bodies,
        lastFact: { commitLsn: LSN, commitIdx: 5 },
        send: (_tx, fact, onAck) => {
          sent.push({ fact, ack: onAck !== null });
          onAck?.(1);
        },
      },
      tx,
      t,
      [
        ['1', '"a"'],
        ['2', '"b"'],
        ['3', '"c"'],
      ],
      () => acked++,
    );
    expect(n).toBe(2);
    expect(tx.idx).toBe(8);
    expect(sent.map((s) => [s.fact.subject, s.ack])).toEqual([
      ['cdc.fact.public.accounts.2', false],
      ['cdc.fact.public.accounts.3', true],
    ]);
    expect(acked).toBe(1);
    expect(cache.get('cdc.fact.public.accounts.1')?.values).toEqual(['1', '"a"']);
    expect(cache.get('cdc.fact.public.accounts.3')?.values).toEqual(['3', '"c"']);
  });
});
