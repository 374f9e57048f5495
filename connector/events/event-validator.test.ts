import { describe, expect, it } from 'vitest';
import { testCatalog } from './testing.js';
import { EventValidator } from './event-validator.js';
import { ChangeProcessor } from './change-processor.js';
import { MemorySchemaRegistry } from './tables.js';
import { RowCache } from './row-cache.js';
import type { ChangeSink, OutMessage } from '../ports.js';
import type { PgoutputMessage } from '../source/pgoutput.js';
import { silentLogger } from '../logger.js';

const catalog = testCatalog();

/** Runs a processor whose sink and registry go through a validator; returns what reached the sink. */
async function publish(validator: EventValidator, messages: PgoutputMessage[]) {
  const out: OutMessage[] = [];
  const sink: ChangeSink = {
    capacity: () => undefined,
    drained: async () => undefined,
    begin: () => ({ endLsn: null }),
    commit: () => undefined,
    publishChange: (_t, d, f) => void out.push(...[d, f].filter((m): m is OutMessage => m !== null)),
    publishDelta: (_t, m) => void out.push(m),
    publishShared: (_t, _s, m) => void out.push(m),
  };
  const p = new ChangeProcessor({
    prefix: 'cdc',
    source: 'test',
    sink: validator.sink(sink),
    catalog,
    registry: validator.registry(new MemorySchemaRegistry()),
    facts: { lastFact: async () => null, purgeTable: async () => undefined },
    cache: new RowCache(1000),
    lastFact: null,
    lastDelta: null,
    log: silentLogger(),
  });
  await p.handle({ tag: 'begin', finalLsn: 0x100n, commitTime: 0n, xid: 1 });
  for (const m of messages) await p.handle(m);
  await p.handle({ tag: 'commit', flags: 0, commitLsn: 0x100n, endLsn: 0x108n, commitTime: 0n });
  return out;
}

const relation = (valueType: number): PgoutputMessage => ({
  tag: 'relation',
  relationId: 1,
  schema: 'public',
  table: 't',
  replicaIdentity: 'default',
  columns: [
    { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
    { isKey: false, name: 'v', typeOid: valueType, typeMod: -1 },
  ],
});

describe('EventValidator', () => {
  it('passes what the processor publishes: schema event, fact, delta, commit marker', async () => {
    const v = new EventValidator('fail', silentLogger());
    const out = await publish(v, [
      relation(20),
      { tag: 'insert', relationId: 1, newTuple: ['1', '9007199254740993'] },
      { tag: 'update', relationId: 1, keyTuple: null, oldTuple: null, newTuple: ['1', '-2'] },
    ]);
    expect(out.map((m) => m.subject)).toEqual([
      'cdc.schema.public.t',
      'cdc.delta.public.t.insert.1',
      'cdc.fact.public.t.1',
      'cdc.delta.public.t.update.1',
      'cdc.fact.public.t.1',
      'cdc.tx.1',
    ]);
    expect(v.stats).toEqual({ validated: 6, invalid: 0 });
  });

  it.each([
    ['a value in another JSON form', (b: string) => b.replace('"v":"5"', '"v":5'), /row: v: /],
    ['a column the version lacks', (b: string) => b.replace('"v":"5"', '"v":"5","w":1'), /row: .*w/],
    ['a key column missing', (b: string) => b.replace('"id":1,"v"', '"v"'), /row: id: /],
    [
      'an unknown dataschema',
      (b: string) => b.replace(':schema:public.t:1', ':schema:public.t:7'),
      /public\.t:7/,
    ],
    [
      'a broken envelope',
      (b: string) => b.replace('"specversion":"1.0"', '"specversion":"0.3"'),
      /specversion/,
    ],
  ])('reports %s', async (_label, tamper, problem) => {
    const v = new EventValidator('warn', silentLogger());
    const out = await publish(v, [relation(20), { tag: 'insert', relationId: 1, newTuple: ['1', '5'] }]);
    const fact = out.find((m) => m.subject === 'cdc.fact.public.t.1')!;
    const bad = { ...fact, body: tamper(fact.body) };
    expect(bad.body).not.toBe(fact.body);
    expect(v.check(bad)).toMatch(problem);
    expect(() => new EventValidator('fail', silentLogger()).check(bad)).toThrow(
      /does not match the contract/,
    );
  });
});
