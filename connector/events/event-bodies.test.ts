/**
 * Event bodies with plain data, checked against the contract's zod schemas (schemas/events.ts): a
 * body the schemas refuse, or whose parsed content differs from what the change says, fails here.
 */
import { describe, expect, it } from 'vitest';
import { testCatalog } from './testing.js';
import { DeltaEvent, FactEvent, TxMarkerEvent } from '../../schemas/events.js';
import { NO_KEY_TOKEN } from '../../schemas/keys.js';
import { formatVersion } from '../../schemas/versions.js';
import type { TableInfo } from '../ports.js';
import { EventBodies, changesJson, keyObject, rowJson, txPrefix, type TxPlace } from './event-bodies.js';
import { describeRelation, keyTokenOf, MemorySchemaRegistry } from './tables.js';

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
        { isKey: false, name: 'doc', typeOid: 3802, typeMod: -1 },
      ],
    },
    'cdc',
    catalog,
    new MemorySchemaRegistry(),
    null,
  );
}

const LSN = 0x1_0000_0010n;
const place = (context = ''): TxPlace => ({
  xid: 7,
  commitLsn: LSN,
  time: '2026-12-01T04:00:00.000000Z',
  txPrefix: txPrefix(7, LSN, '2026-12-01T04:00:00.000000Z'),
  context,
});
const bodies = new EventBodies('src');
/** Rows as JSON fragments in column order, as type-mapping.ts makes them. */
const before = ['1', '"ann"', '{"big":12345678901234567890}'];
const after = ['1', '"anne"', undefined];

describe('event bodies', () => {
  it('builds a fact the contract accepts, with the row after the change', async () => {
    const t = await accounts();
    const version = formatVersion(LSN, 3);
    const token = keyTokenOf(t, after);
    const m = bodies.fact(
      place(),
      t,
      'update',
      t.factPrefix + token,
      token,
      keyObject(t, after),
      3,
      version,
      false,
      after,
      '',
    );
    expect(m.subject).toBe('cdc.fact.public.accounts.1');
    expect(m.id).toBe(`src:${version}:fact`);
    const e = FactEvent.parse(JSON.parse(m.body));
    expect(e).toMatchObject({
      id: m.id,
      source: 'sluice/src',
      type: 'io.sluice.fact',
      subject: 'public.accounts/1',
      time: '2026-12-01T04:00:00.000000Z',
      dataschema: t.dataschema,
      data: {
        table: 'public.accounts',
        key: { id: 1 },
        op: 'update',
        deleted: false,
        // An unknown value is left out of the row, never made up.
        row: { id: 1, name: 'anne' },
        version,
        schemaVersion: 1,
        tx: { id: 7, lsn: '1/10', commitTime: '2026-12-01T04:00:00.000000Z', seq: 3 },
      },
    });
    expect(e.data.context).toBeUndefined();
  });

  it('builds a delta the contract accepts, with the changed columns only, and the context', async () => {
    const t = await accounts();
    const version = formatVersion(LSN, 4);
    const m = bodies.delta(
      place(',"context":{"user":"u1"}'),
      t,
      'update',
      '1',
      keyObject(t, after),
      4,
      version,
      before,
      after,
    );
    expect(m.subject).toBe('cdc.delta.public.accounts.update.1');
    const e = DeltaEvent.parse(JSON.parse(m.body));
    expect(e.data).toEqual({
      table: 'public.accounts',
      key: { id: 1 },
      op: 'update',
      changes: { name: { old: 'ann', new: 'anne' } },
      version,
      schemaVersion: 1,
      tx: { id: 7, lsn: '1/10', commitTime: '2026-12-01T04:00:00.000000Z', seq: 4 },
      context: { user: 'u1' },
    });
  });

  it.each([
    ['insert', null, before, { id: { new: 1 }, name: { new: 'ann' }, doc: { new: {} } }],
    ['delete', before, null, { id: { old: 1 }, name: { old: 'ann' }, doc: { old: {} } }],
  ] as const)('builds the %s delta with only new or only old values', async (op, oldRow, newRow, changes) => {
    const t = await accounts();
    const m = bodies.delta(place(), t, op, '1', '{"id":1}', 0, formatVersion(LSN, 0), oldRow, newRow);
    const e = DeltaEvent.parse(JSON.parse(m.body));
    expect(e.data.op).toBe(op);
    expect(Object.keys(e.data.changes)).toEqual(Object.keys(changes));
    expect(Object.keys(e.data.changes['doc']!)).toEqual(Object.keys(changes.doc));
    // JSON values stay the fragments they were: a big number inside jsonb keeps its digits.
    expect(m.body).toContain('{"big":12345678901234567890}');
  });

  it('builds the truncate delta and fact marker, and the delta of a table without identity', async () => {
    const t = await accounts();
    const version = formatVersion(LSN, 5);
    const d = DeltaEvent.parse(
      JSON.parse(bodies.delta(place(), t, 'truncate', NO_KEY_TOKEN, 'null', 5, version, null, null).body),
    );
    expect(d.data).toMatchObject({ key: null, op: 'truncate', changes: {} });
    const marker = bodies.fact(
      place(),
      t,
      'truncate',
      t.factPrefix + NO_KEY_TOKEN,
      NO_KEY_TOKEN,
      '{}',
      5,
      version,
      true,
      null,
      '',
    );
    const keyless = bodies.delta(place(), t, 'insert', NO_KEY_TOKEN, 'null', 6, version, null, before);
    expect(keyless.subject).toBe(`cdc.delta.public.accounts.insert.${NO_KEY_TOKEN}`);
    expect(DeltaEvent.parse(JSON.parse(keyless.body)).data).toMatchObject({ key: null, op: 'insert' });
    expect(FactEvent.parse(JSON.parse(marker.body)).data).toMatchObject({
      op: 'truncate',
      deleted: true,
      row: null,
      key: {},
    });
  });

  it('builds the commit marker the contract accepts', () => {
    const version = formatVersion(LSN, 0xffffffff);
    const m = bodies.txMarker('cdc', place(), version, 3, new Map([['public.accounts', 3]]), 1);
    expect(m.subject).toBe('cdc.tx.7');
    expect(m.id).toBe(`src:${version}:tx`);
    expect(TxMarkerEvent.parse(JSON.parse(m.body)).data).toMatchObject({
      id: 7,
      lsn: '1/10',
      version,
      events: 3,
      tables: { 'public.accounts': 3 },
      outbox: 1,
    });
  });

  it('writes rows and changes column by column', async () => {
    const t = await accounts();
    expect(rowJson(t, null)).toBe('null');
    expect(rowJson(t, [undefined, undefined, undefined])).toBe('{}');
    expect(changesJson(t, before, before)).toBe('{}');
    expect(changesJson(t, [undefined, '"a"', undefined], ['1', '"b"', '2'])).toBe(
      '{"id":{"new":1},"name":{"old":"a","new":"b"},"doc":{"new":2}}',
    );
  });
});
