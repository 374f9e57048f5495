/**
 * The change processor with plain data: pgoutput messages in, published messages out (a recording
 * sink). Covers what is hard to provoke against real servers: replay after a restart with the
 * facts stream behind the deltas stream, cache misses served by the facts store, and oversized
 * events.
 */
import { describe, expect, it } from 'vitest';
import { ChangeProcessor } from './change-processor.js';
import { referenceBody } from './claim-check.js';
import { MemorySchemaRegistry } from './tables.js';
import { RowCache } from './row-cache.js';
import type { Catalog, ChangeSink, FactStore, OutMessage, SharedStream, TxTicket } from '../ports.js';
import type { PgoutputMessage, RelationMessage, Tuple } from '../source/pgoutput.js';
import type { PgType } from '../source/type-catalog.js';
import { silentLogger } from '../logger.js';
import type { Position } from '../../schemas/versions.js';
import type { SubjectHead } from './domain-events.js';

const int4: PgType = {
  oid: 23,
  schema: 'pg_catalog',
  name: 'int4',
  kind: 'b',
  category: 'N',
  delim: ',',
  element: null,
  base: null,
};
const text: PgType = {
  oid: 25,
  schema: 'pg_catalog',
  name: 'text',
  kind: 'b',
  category: 'S',
  delim: ',',
  element: null,
  base: null,
};

const catalog: Catalog = {
  async loadTypes(oids) {
    return new Map(oids.map((o) => [o, o === 23 ? int4 : text] as const));
  },
  async describe() {
    return { identity: ['id'], notNull: new Set(['id']) };
  },
};

class RecordingSink implements ChangeSink {
  readonly deltas: OutMessage[] = [];
  readonly facts: OutMessage[] = [];
  readonly committed: bigint[] = [];
  capacity() {
    return undefined;
  }
  async drained() {}
  begin() {
    return { endLsn: null };
  }
  commit(_tx: TxTicket, endLsn: bigint) {
    this.committed.push(endLsn);
  }
  publishChange(_tx: TxTicket, delta: OutMessage | null, fact: OutMessage | null) {
    if (delta) this.deltas.push(delta);
    if (fact) this.facts.push(fact);
  }
  publishDelta(_tx: TxTicket, msg: OutMessage) {
    this.deltas.push(msg);
  }
  /** Domain events and outbox dead letters, with the subject sequence they expect. */
  readonly shared: { stream: SharedStream; msg: OutMessage; lastSubjectSeq: number }[] = [];
  publishShared(_tx: TxTicket, stream: SharedStream, msg: OutMessage, lastSubjectSeq: number) {
    this.shared.push({ stream, msg, lastSubjectSeq });
  }
}

function setup(
  opts: {
    lastFact?: Position | null;
    lastDelta?: Position | null;
    stored?: Map<string, string>;
    /** Last stored message per shared-stream subject (domain events). */
    heads?: Map<string, SubjectHead>;
    registry?: MemorySchemaRegistry;
  } = {},
) {
  const sink = new RecordingSink();
  const stored = opts.stored ?? new Map<string, string>();
  const fetched: string[] = [];
  const facts: FactStore = {
    async lastFact(subject) {
      fetched.push(subject);
      return stored.get(subject) ?? null;
    },
    async purgeTable() {},
  };
  const p = new ChangeProcessor({
    prefix: 'cdc',
    source: 'shop',
    sink,
    catalog,
    registry: opts.registry ?? new MemorySchemaRegistry(),
    facts,
    cache: new RowCache(1000),
    lastFact: opts.lastFact ?? null,
    lastDelta: opts.lastDelta ?? null,
    log: silentLogger(),
    outbox: {
      contracts: null,
      reader: { lastOnSubject: async (_stream, subject) => opts.heads?.get(subject) ?? null },
    },
  });
  return { p, sink, fetched, stored };
}

const relation: PgoutputMessage = {
  tag: 'relation',
  relationId: 1,
  schema: 'public',
  table: 'docs',
  replicaIdentity: 'default',
  columns: [
    { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
    { isKey: false, name: 'title', typeOid: 25, typeMod: -1 },
    { isKey: false, name: 'body', typeOid: 25, typeMod: -1 },
  ],
};

/** Feeds one transaction. */
async function tx(p: ChangeProcessor, lsn: bigint, changes: PgoutputMessage[]): Promise<void> {
  await p.handle({ tag: 'begin', finalLsn: lsn, commitTime: 0n, xid: Number(lsn) });
  for (const c of changes) await p.handle(c);
  await p.handle({ tag: 'commit', flags: 0, commitLsn: lsn, endLsn: lsn + 8n, commitTime: 0n });
}

const ins = (t: Tuple): PgoutputMessage => ({ tag: 'insert', relationId: 1, newTuple: t });
const upd = (t: Tuple): PgoutputMessage => ({
  tag: 'update',
  relationId: 1,
  keyTuple: null,
  oldTuple: null,
  newTuple: t,
});
const del = (id: string): PgoutputMessage => ({
  tag: 'delete',
  relationId: 1,
  keyTuple: [id, null, null],
  oldTuple: null,
});
const msg = (prefix: string, content: unknown, transactional = true): PgoutputMessage => ({
  tag: 'message',
  transactional,
  lsn: 0n,
  prefix,
  content: Buffer.from(
    typeof content === 'string' && content.startsWith('{') ? content : JSON.stringify(content),
  ),
});
const body = (m: OutMessage) => JSON.parse(m.body) as { id: string; data: Record<string, unknown> };

describe('ChangeProcessor', () => {
  it('builds facts and deltas, filling unchanged TOAST and old values from its cache', async () => {
    const { p, sink, fetched } = setup();
    await p.handle(relation);
    await tx(p, 0x100n, [ins(['1', 'a', 'long body'])]);
    await tx(p, 0x200n, [upd(['1', 'b', undefined])]);
    await tx(p, 0x300n, [del('1')]);
    expect(fetched).toEqual([]);
    expect(sink.deltas.map((m) => m.subject)).toEqual([
      'cdc.delta.public.docs.insert.1',
      'cdc.tx.256',
      'cdc.delta.public.docs.update.1',
      'cdc.tx.512',
      'cdc.delta.public.docs.delete.1',
      'cdc.tx.768',
    ]);
    expect(body(sink.deltas[2]!).data.changes).toEqual({ title: { old: 'a', new: 'b' } });
    expect(body(sink.facts[1]!).data.row).toEqual({ id: 1, title: 'b', body: 'long body' });
    expect(body(sink.facts[2]!).data).toMatchObject({
      deleted: true,
      row: { id: 1, title: 'b', body: 'long body' },
    });
    expect(body(sink.deltas[4]!).data.changes).toEqual({
      id: { old: 1 },
      title: { old: 'b' },
      body: { old: 'long body' },
    });
    expect(body(sink.facts[0]!).id).toBe('shop:0000000000000100-00000000:fact');
    expect(sink.deltas[0]!.id).toBe('shop:0000000000000100-00000000:delta');
    expect(sink.committed).toEqual([0x108n, 0x208n, 0x308n]);
  });

  it('hands a keepalive between transactions to the sink as a position without messages', async () => {
    const { p, sink } = setup();
    await p.handle(relation);
    await p.handle({ tag: 'keepalive', walEnd: 0x50n });
    await tx(p, 0x100n, [ins(['1', 'a', 'b'])]);
    // Not past the last transaction's end: nothing new to confirm.
    await p.handle({ tag: 'keepalive', walEnd: 0x108n });
    await p.handle({ tag: 'keepalive', walEnd: 0x180n });
    // Inside a transaction a position marks no end: dropped.
    await p.handle({ tag: 'begin', finalLsn: 0x200n, commitTime: 0n, xid: 2 });
    await p.handle({ tag: 'keepalive', walEnd: 0x1f0n });
    await p.handle(ins(['2', 'c', 'd']));
    await p.handle({ tag: 'commit', flags: 0, commitLsn: 0x200n, endLsn: 0x208n, commitTime: 0n });
    await p.handle({ tag: 'keepalive', walEnd: 0x180n });
    await p.handle({ tag: 'keepalive', walEnd: 0x300n });
    expect(sink.committed).toEqual([0x50n, 0x108n, 0x180n, 0x208n, 0x300n]);
    expect(sink.deltas.map((m) => m.subject)).toEqual([
      'cdc.delta.public.docs.insert.1',
      'cdc.tx.256',
      'cdc.delta.public.docs.insert.2',
      'cdc.tx.2',
    ]);
    expect(p.stats.transactions).toBe(2);
  });

  it('on replay publishes only what the streams lack, and reads the previous row from the facts stream', async () => {
    // Stored: deltas up to the update at 0x200, facts only up to the insert at 0x100.
    const stored = new Map<string, string>();
    const first = setup();
    await first.p.handle(relation);
    await tx(first.p, 0x100n, [ins(['1', 'a', 'long body'])]);
    stored.set('cdc.fact.public.docs.1', first.sink.facts[0]!.body);

    const { p, sink, fetched } = setup({
      lastFact: { commitLsn: 0x100n, commitIdx: 0 },
      lastDelta: { commitLsn: 0x200n, commitIdx: 0xffffffff },
      stored,
    });
    await p.handle(relation);
    // The slot resumes after the insert; the cache is empty.
    await tx(p, 0x200n, [upd(['1', 'b', undefined])]); // delta stored, fact missing
    await tx(p, 0x300n, [upd(['1', 'c', undefined])]); // nothing stored
    expect(sink.deltas.map((m) => m.subject)).toEqual(['cdc.delta.public.docs.update.1', 'cdc.tx.768']);
    expect(body(sink.deltas[0]!).data.changes).toEqual({ title: { old: 'b', new: 'c' } });
    expect(sink.facts.map((m) => body(m).data.row)).toEqual([
      { id: 1, title: 'b', body: 'long body' },
      { id: 1, title: 'c', body: 'long body' },
    ]);
    // one read of the facts stream, for the first change whose fact was missing
    expect(fetched).toEqual(['cdc.fact.public.docs.1']);

    // A replayed change stored in both streams publishes nothing, but still feeds the cache.
    stored.set('cdc.fact.public.docs.1', sink.facts[1]!.body);
    const again = setup({
      lastFact: { commitLsn: 0x300n, commitIdx: 0 },
      lastDelta: { commitLsn: 0x300n, commitIdx: 0xffffffff },
      stored,
    });
    await again.p.handle(relation);
    await tx(again.p, 0x300n, [upd(['1', 'c', 'long body'])]);
    await tx(again.p, 0x400n, [upd(['1', 'd', undefined])]);
    // one read: is the entity's fact stored at the replayed position? (it is)
    expect(again.fetched).toEqual(['cdc.fact.public.docs.1']);
    expect(again.sink.facts.map((m) => body(m).data.row)).toEqual([{ id: 1, title: 'd', body: 'long body' }]);
  });

  it('republishes a fact missing below the last stored fact, entity by entity', async () => {
    // Session 1 stores the facts of entities 1 and 2 at 0x100, then entity 1 changes at 0x200 and
    // entity 2 at 0x300: both deltas are stored, but only entity 2's fact (the crash hit between
    // entity 1's delta acknowledgement and its fact's publish, or its fact went missing).
    const first = setup();
    await first.p.handle(relation);
    await tx(first.p, 0x100n, [ins(['1', 'a', 'x']), ins(['2', 'a', 'y'])]);
    await tx(first.p, 0x200n, [upd(['1', 'b', 'x'])]);
    await tx(first.p, 0x300n, [upd(['2', 'b', 'y'])]);
    const stored = new Map<string, string>();
    stored.set('cdc.fact.public.docs.1', first.sink.facts[0]!.body); // 0x100: behind
    stored.set('cdc.fact.public.docs.2', first.sink.facts[3]!.body); // 0x300: current

    const { p, sink, fetched } = setup({
      lastFact: { commitLsn: 0x300n, commitIdx: 0 },
      lastDelta: { commitLsn: 0x300n, commitIdx: 0xffffffff },
      stored,
    });
    await p.handle(relation);
    // The slot resumes after 0x100 (the last transaction whose facts were all acknowledged).
    await tx(p, 0x200n, [upd(['1', 'b', 'x'])]);
    await tx(p, 0x300n, [upd(['2', 'b', 'y'])]);
    await tx(p, 0x400n, [upd(['1', 'c', 'x'])]);
    expect(sink.deltas.map((m) => m.subject)).toEqual(['cdc.delta.public.docs.update.1', 'cdc.tx.1024']);
    expect(sink.facts.map((m) => [m.subject, body(m).data.version])).toEqual([
      ['cdc.fact.public.docs.1', '0000000000000200-00000000'],
      ['cdc.fact.public.docs.1', '0000000000000400-00000000'],
    ]);
    expect(fetched.sort()).toEqual(['cdc.fact.public.docs.1', 'cdc.fact.public.docs.2']);
  });

  it('a delete of a row never seen leaves its unknown columns out (the key tuple sends them as NULL)', async () => {
    const { p, sink } = setup();
    await p.handle(relation);
    await tx(p, 0x100n, [del('9')]);
    expect(body(sink.deltas[0]!).data.changes).toEqual({ id: { old: 9 } });
    expect(body(sink.facts[0]!).data).toMatchObject({ deleted: true, row: { id: 9 } });
    expect(Object.keys(body(sink.facts[0]!).data.row as object)).toEqual(['id']);
  });

  it('turns a key change into a delete and an insert', async () => {
    const { p, sink } = setup();
    await p.handle(relation);
    await tx(p, 0x100n, [ins(['1', 'a', 'x'])]);
    await tx(p, 0x200n, [
      {
        tag: 'update',
        relationId: 1,
        keyTuple: ['1', null, null],
        oldTuple: null,
        newTuple: ['2', 'a', undefined],
      },
    ]);
    expect(sink.deltas.slice(2).map((m) => m.subject)).toEqual([
      'cdc.delta.public.docs.delete.1',
      'cdc.delta.public.docs.insert.2',
      'cdc.tx.512',
    ]);
    expect(sink.facts.slice(1).map((m) => [m.subject, body(m).data.deleted, body(m).data.row])).toEqual([
      ['cdc.fact.public.docs.1', true, { id: 1, title: 'a', body: 'x' }],
      ['cdc.fact.public.docs.2', false, { id: 2, title: 'a', body: 'x' }],
    ]);
  });

  it('publishes a schema event where the shape changes, and a replay rebuilds exactly the same events', async () => {
    const registry = new MemorySchemaRegistry(); // durable across sessions, like the KV bucket
    const rel1 = relation as RelationMessage;
    const v2: RelationMessage = {
      ...rel1,
      columns: [...rel1.columns, { isKey: false, name: 'extra', typeOid: 23, typeMod: -1 }],
    };
    const run = async (lastDelta: Position | null, from: bigint) => {
      const s = setup({ lastDelta, registry });
      // Each session resends Relation messages before a relation's first use, whether or not DDL happened.
      if (from <= 0x100n) await tx(s.p, 0x100n, [relation, ins(['1', 'a', 'x'])]);
      if (from <= 0x200n) await tx(s.p, 0x200n, [v2, ins(['2', 'b', 'y', '7'])]);
      await tx(s.p, 0x300n, from <= 0x200n ? [ins(['3', 'c', 'z', '8'])] : [v2, ins(['3', 'c', 'z', '8'])]);
      return s.sink.deltas;
    };
    const first = await run(null, 0n);
    expect(first.map((m) => [m.subject, body(m).data.version, body(m).data.schemaVersion])).toEqual([
      ['cdc.schema.public.docs', '0000000000000100-00000000', 1],
      ['cdc.delta.public.docs.insert.1', '0000000000000100-00000001', 1],
      ['cdc.tx.256', '0000000000000100-ffffffff', undefined],
      ['cdc.schema.public.docs', '0000000000000200-00000000', 2],
      ['cdc.delta.public.docs.insert.2', '0000000000000200-00000001', 2],
      ['cdc.tx.512', '0000000000000200-ffffffff', undefined],
      ['cdc.delta.public.docs.insert.3', '0000000000000300-00000000', 2],
      ['cdc.tx.768', '0000000000000300-ffffffff', undefined],
    ]);
    expect(body(first[3]!).data).toMatchObject({
      change: 'alter',
      previousVersion: 1,
      compatible: true,
      changes: [{ kind: 'added', column: 'extra', breaking: false }],
    });
    expect(body(first[0]!).data).toMatchObject({ change: 'create', previousVersion: null, key: ['id'] });
    // The marker counts row events only.
    expect(body(first[2]!).data).toMatchObject({ events: 1, tables: { 'public.docs': 1 } });
    // A crash right after the schema event was stored: the rest, byte for byte.
    const replay = await run({ commitLsn: 0x200n, commitIdx: 0 }, 0n);
    expect(replay).toEqual(first.slice(4));
    // A session that starts at the DDL's transaction, knowing nothing of the old shape in memory.
    expect(await run({ commitLsn: 0x100n, commitIdx: 0xffffffff }, 0x200n)).toEqual(first.slice(3));
    // A later session: the Relation message resent without DDL is no change.
    expect(await run({ commitLsn: 0x200n, commitIdx: 0xffffffff }, 0x300n)).toEqual(first.slice(6));
    expect(registry.history('public.docs').map((v) => v.version)).toEqual([1, 2]);
  });

  it('after a column changes type, its value from the old type is unknown (cache and facts stream)', async () => {
    const rel1 = relation as RelationMessage;
    // title: text → int4 (ALTER COLUMN title TYPE int USING length(title))
    const retyped: RelationMessage = {
      ...rel1,
      columns: rel1.columns.map((c) => (c.name === 'title' ? { ...c, typeOid: 23 } : c)),
    };
    const registry = new MemorySchemaRegistry();
    const first = setup({ registry });
    await tx(first.p, 0x100n, [relation, ins(['1', 'abc', 'x'])]);
    await tx(first.p, 0x200n, [retyped, del('1')]);
    expect(body(first.sink.facts[1]!).data).toMatchObject({ schemaVersion: 2, row: { id: 1, body: 'x' } });
    expect(body(first.sink.deltas.at(-2)!).data.changes).toEqual({ id: { old: 1 }, body: { old: 'x' } });
    // The same from the facts stream after a restart (the fact was stored under version 1).
    const stored = new Map([['cdc.fact.public.docs.1', first.sink.facts[0]!.body]]);
    const again = setup({ registry, stored, lastFact: { commitLsn: 0x100n, commitIdx: 1 } });
    await tx(again.p, 0x200n, [retyped, del('1')]);
    expect(again.fetched).toEqual(['cdc.fact.public.docs.1']);
    expect(body(again.sink.facts[0]!).data).toMatchObject({ schemaVersion: 2, row: { id: 1, body: 'x' } });
  });

  it('makes reference bodies that keep the envelope and metadata', () => {
    const full = JSON.stringify({
      specversion: '1.0',
      id: 'x',
      data: { table: 't', key: { id: 1 }, row: { id: 1, big: 'y' }, version: 'v', tx: { seq: 0 } },
    });
    const ref = JSON.parse(referenceBody(full, 'CDC_LARGE', 'x')) as {
      id: string;
      data: Record<string, unknown>;
    };
    expect(ref.id).toBe('x');
    expect(ref.data).toEqual({
      table: 't',
      key: { id: 1 },
      row: null,
      version: 'v',
      tx: { seq: 0 },
      dataref: { store: 'CDC_LARGE', name: 'x', bytes: Buffer.byteLength(full) },
    });
  });
});

describe('ChangeProcessor: outbox and context', () => {
  const order = { type: 'order.placed', key: '7', payload: { total: '12.50' } };
  /** As emitted: a number JSON.parse would round. */
  const orderText =
    '{"type": "order.placed", "key": "7", "payload": {"total": "12.50", "big": 12345678901234567890}}';

  it('places outbox events between the changes around them, with the context of their transaction only', async () => {
    const { p, sink } = setup();
    await p.handle(relation);
    await tx(p, 0x100n, [
      msg('sluice.context', { userId: 'u1', traceId: 'abc' }),
      ins(['1', 'a', 'x']),
      msg('sluice.outbox', orderText),
      ins(['2', 'b', 'y']),
    ]);
    await tx(p, 0x200n, [upd(['1', 'c', 'x'])]);
    const versions = [...sink.deltas, ...sink.shared.map((s) => s.msg)]
      .map((m) => [(body(m).data.version as string) ?? '', m.subject] as const)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    expect(versions).toEqual([
      ['0000000000000100-00000000', 'cdc.delta.public.docs.insert.1'],
      ['0000000000000100-00000001', 'cdc.events.order.placed'],
      ['0000000000000100-00000002', 'cdc.delta.public.docs.insert.2'],
      ['0000000000000100-ffffffff', 'cdc.tx.256'],
      ['0000000000000200-00000000', 'cdc.delta.public.docs.update.1'],
      ['0000000000000200-ffffffff', 'cdc.tx.512'],
    ]);
    const event = sink.shared[0]!;
    expect(event.stream).toBe('events');
    expect(event.msg.id).toBe('shop:0000000000000100-00000001:event');
    // The payload is the emitted text: the big integer keeps its digits.
    expect(event.msg.body).toContain('"payload":{"total": "12.50", "big": 12345678901234567890}');
    expect(body(event.msg)).toMatchObject({
      type: 'order.placed',
      subject: '7',
      data: { type: 'order.placed', key: '7', context: { userId: 'u1', traceId: 'abc' }, tx: { seq: 1 } },
    });
    for (const m of [...sink.deltas.slice(0, 2), ...sink.facts.slice(0, 2)]) {
      expect(body(m).data.context).toEqual({ userId: 'u1', traceId: 'abc' });
    }
    expect(body(sink.deltas[2]!).data).toMatchObject({ events: 2, outbox: 1 });
    expect(body(sink.deltas[3]!).data.context).toBeUndefined();
    expect(body(sink.facts[2]!).data.context).toBeUndefined();
    expect(body(sink.deltas[4]!).data.outbox).toBeUndefined();
  });

  it('applies a context from where it is emitted; a later one replaces it', async () => {
    const { p, sink } = setup();
    await p.handle(relation);
    await tx(p, 0x100n, [
      ins(['1', 'a', 'x']),
      msg('sluice.context', { step: 1 }),
      ins(['2', 'a', 'x']),
      msg('sluice.context', { step: 2 }),
      ins(['3', 'a', 'x']),
      msg('sluice.context', 'not an object'),
      ins(['4', 'a', 'x']),
    ]);
    expect(sink.deltas.slice(0, 4).map((m) => body(m).data.context)).toEqual([
      undefined,
      { step: 1 },
      { step: 2 },
      { step: 2 },
    ]);
  });

  it('dead-letters an unreadable message, publishes outbox-only transactions, ignores non-transactional ones', async () => {
    const { p, sink } = setup();
    await tx(p, 0x100n, [
      msg('sluice.outbox', { type: 'a', key: 1, payload: {} }),
      msg('sluice.outbox', order),
    ]);
    await p.handle(msg('sluice.outbox', order, false));
    expect(sink.shared.map((s) => [s.stream, s.msg.subject, s.msg.id])).toEqual([
      ['dlq', 'cdc.dlq.connector.outbox', 'shop:0000000000000100-00000000:dlq'],
      ['events', 'cdc.events.order.placed', 'shop:0000000000000100-00000001:event'],
    ]);
    expect(body(sink.shared[0]!.msg).data).toMatchObject({ reason: 'invalid', type: 'a' });
    expect(sink.deltas.map((m) => [m.subject, body(m).data.events, body(m).data.outbox])).toEqual([
      ['cdc.tx.256', 0, 1],
    ]);
  });

  it('on replay skips the events each subject already holds and expects its last sequence', async () => {
    const heads = new Map<string, SubjectHead>([
      ['cdc.events.order.placed', { seq: 41, version: '0000000000000100-00000001' }],
    ]);
    const { p, sink } = setup({ heads, lastDelta: { commitLsn: 0x100n, commitIdx: 0xffffffff } });
    await tx(p, 0x100n, [msg('sluice.outbox', order), msg('sluice.outbox', order)]);
    await tx(p, 0x200n, [
      msg('sluice.outbox', order),
      msg('sluice.outbox', { ...order, type: 'order.paid' }),
    ]);
    expect(sink.shared.map((s) => [s.msg.id, s.lastSubjectSeq])).toEqual([
      ['shop:0000000000000200-00000000:event', 41],
      ['shop:0000000000000200-00000001:event', 0],
    ]);
  });
});
