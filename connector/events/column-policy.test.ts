/**
 * Column exclusion and masking with plain data: the mappers, the checks, and the policy applied by
 * a change processor (facts, deltas with old and new values, the registered schema).
 */
import { describe, expect, it } from 'vitest';
import {
  checkColumnPolicy,
  checkTablePolicy,
  ColumnPolicy,
  maskedColumnSchema,
  REDACTED,
} from './column-policy.js';
import { ChangeProcessor } from './change-processor.js';
import { MemorySchemaRegistry } from './tables.js';
import { RowCache } from './row-cache.js';
import type { Catalog, ChangeSink, OutMessage, TxTicket } from '../ports.js';
import type { PgoutputMessage } from '../source/pgoutput.js';
import type { PgType } from '../source/type-catalog.js';
import { silentLogger } from '../logger.js';
import { SluiceError } from '../errors.js';
import { runtimeBuilder, translateSchema } from '../../schemas/json-schema-to-zod.js';

const SALT = 'test-salt-0123456789';

describe('ColumnPolicy', () => {
  it('hashes with HMAC-SHA-256 keyed by the salt (RFC 4231 test case 2)', () => {
    const p = new ColumnPolicy({ 'public.t': { mask: { a: 'hash' } } }, 'Jefe');
    expect(p.forTable('public.t')!.mapper('hash')('what do ya want for nothing?')).toBe(
      '"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"',
    );
  });

  it('redacts to a fixed string and nulls to null', () => {
    const t = new ColumnPolicy({ 'public.t': { mask: { a: 'redact', b: 'null' } } }, undefined).forTable(
      'public.t',
    )!;
    expect(t.mapper('redact')('secret')).toBe(JSON.stringify(REDACTED));
    expect(t.mapper('null')('secret')).toBe('null');
    expect(t.mask('a')).toBe('redact');
    expect(t.mask('c')).toBeUndefined();
    expect(t.columns).toEqual(['a', 'b']);
  });

  it('refuses hash without a salt, and a column both excluded and masked', () => {
    expect(() => new ColumnPolicy({ 'public.t': { mask: { a: 'hash' } } }, undefined)).toThrow(
      /no salt is set/,
    );
    expect(() => new ColumnPolicy({ 'public.t': { exclude: ['a'], mask: { a: 'null' } } }, SALT)).toThrow(
      /both excluded and masked/,
    );
  });

  it('leaves tables it does not name, or names without columns, alone', () => {
    const p = new ColumnPolicy({ 'public.t': {}, 'public.u': { exclude: ['x'] } }, undefined);
    expect(p.forTable('public.t')).toBeNull();
    expect(p.forTable('public.v')).toBeNull();
    expect(p.tables()).toEqual(['public.u']);
  });

  it('never shows the salt', () => {
    const p = new ColumnPolicy({ 'public.t': { mask: { a: 'hash' } } }, SALT);
    expect(JSON.stringify(p)).not.toContain(SALT);
    expect(JSON.stringify({ p })).toBe('{"p":{"tables":["public.t"]}}');
  });
});

describe('checkTablePolicy / checkColumnPolicy', () => {
  const p = new ColumnPolicy(
    { 'public.t': { exclude: ['ssn'], mask: { email: 'hash' } }, 'public.k': { mask: { id: 'redact' } } },
    SALT,
  );
  it('accepts columns the table has', () => {
    expect(checkTablePolicy(p.forTable('public.t')!, ['id', 'ssn', 'email'], ['id'])).toBeNull();
  });
  it('refuses a column the table does not have, naming the columns it has', () => {
    const err = checkTablePolicy(p.forTable('public.t')!, ['id', 'email'], ['id'])!;
    expect(err).toBeInstanceOf(SluiceError);
    expect(err.code).toBe('SLUICE_CONFIG');
    expect(err.message).toBe('columns."public.t": the table has no column ssn.');
    expect(err.hint).toContain('id, email');
  });
  it('refuses an identity column excluded or masked', () => {
    expect(checkTablePolicy(p.forTable('public.k')!, ['id'], ['id'])!.message).toMatch(
      /id is part of the table's identity .* cannot be masked/,
    );
    expect(checkTablePolicy(p.forTable('public.t')!, ['id', 'ssn', 'email'], ['ssn'])!.message).toMatch(
      /cannot be excluded/,
    );
  });
  it('refuses a table that is not captured', async () => {
    await expect(
      checkColumnPolicy(p, new Map([['public.t', 1]]), async () => [{ name: 'id', identity: true }]),
    ).rejects.toThrow(/columns\."public\.t": the table has no column ssn/);
    await expect(
      checkColumnPolicy(
        p,
        new Map([
          ['public.t', 1],
          ['public.x', 2],
        ]),
        async () => ['id', 'ssn', 'email'].map((name) => ({ name, identity: name === 'id' })),
      ),
    ).rejects.toThrow(/no captured table is named public\.k/);
  });
});

describe('maskedColumnSchema', () => {
  it('names the published type in x-pg-type (read models build columns from it) and keeps the source type', () => {
    expect(maskedColumnSchema('hash', 'pg_catalog.int4', true)).toMatchObject({
      'x-pg-type': 'pg_catalog.text',
      'x-source-pg-type': 'pg_catalog.int4',
    });
    expect(maskedColumnSchema('null', 'pg_catalog.int4', true)['x-pg-type']).toBe('pg_catalog.int4');
  });

  it.each([
    ['hash', true, ['0'.repeat(64), null], ['abc', 1]],
    ['hash', false, ['f'.repeat(64)], [null]],
    ['redact', true, [REDACTED, null], ['***', 'x']],
    ['null', false, [null], ['x', 0]],
  ] as const)('%s (nullable %s) admits what the mapper emits, nothing else', (kind, nullable, good, bad) => {
    const z = translateSchema(maskedColumnSchema(kind, 'pg_catalog.int4', nullable), runtimeBuilder);
    for (const v of good) expect(z.safeParse(v).success).toBe(true);
    for (const v of bad) expect(z.safeParse(v).success).toBe(false);
  });
});

// --- The policy applied by a change processor ------------------------------------------------

const type = (oid: number, name: string): PgType => ({
  oid,
  schema: 'pg_catalog',
  name,
  kind: 'b',
  category: 'S',
  delim: ',',
  element: null,
  base: null,
});
const catalog: Catalog = {
  async loadTypes(oids) {
    return new Map(oids.map((o) => [o, o === 23 ? type(23, 'int4') : type(25, 'text')] as const));
  },
  async describe() {
    return { identity: ['id'], notNull: new Set(['id', 'age']) };
  },
};

class Sink implements ChangeSink {
  readonly out: OutMessage[] = [];
  capacity() {
    return undefined;
  }
  async drained() {}
  begin() {
    return { endLsn: null };
  }
  commit() {}
  publishChange(_tx: TxTicket, delta: OutMessage | null, fact: OutMessage | null) {
    if (delta) this.out.push(delta);
    if (fact) this.out.push(fact);
  }
  publishDelta(_tx: TxTicket, msg: OutMessage) {
    this.out.push(msg);
  }
  publishShared() {}
}

const customers: PgoutputMessage = {
  tag: 'relation',
  relationId: 7,
  schema: 'public',
  table: 'customers',
  replicaIdentity: 'full',
  columns: ['id', 'ssn', 'email', 'age', 'phone', 'notes', 'name'].map((name) => ({
    isKey: true, // REPLICA IDENTITY FULL flags every column
    name,
    typeOid: name === 'id' || name === 'age' ? 23 : 25,
    typeMod: -1,
  })),
};

function processor(
  policy: ColumnPolicy,
  registry = new MemorySchemaRegistry(),
  stored = new Map<string, string>(),
) {
  const sink = new Sink();
  const p = new ChangeProcessor({
    prefix: 'cdc',
    source: 'shop',
    sink,
    catalog,
    registry,
    facts: { lastFact: async (subject) => stored.get(subject) ?? null, purgeTable: async () => {} },
    cache: new RowCache(1000),
    lastFact: null,
    lastDelta: null,
    log: silentLogger(),
    columns: policy,
  });
  return { p, sink, registry };
}

async function tx(p: ChangeProcessor, lsn: bigint, changes: PgoutputMessage[]): Promise<void> {
  await p.handle({ tag: 'begin', finalLsn: lsn, commitTime: 0n, xid: Number(lsn) });
  for (const c of changes) await p.handle(c);
  await p.handle({ tag: 'commit', flags: 0, commitLsn: lsn, endLsn: lsn + 8n, commitTime: 0n });
}

describe('a change processor with a column policy', () => {
  const policy = new ColumnPolicy(
    {
      'public.customers': {
        exclude: ['ssn'],
        mask: { email: 'hash', age: 'hash', phone: 'redact', notes: 'null' },
      },
    },
    SALT,
  );
  const hash = (v: string) => JSON.parse(policy.forTable('public.customers')!.mapper('hash')(v)) as string;

  it('publishes no excluded or clear masked value in facts or deltas, old values included', async () => {
    const { p, sink, registry } = processor(policy);
    await p.handle(customers);
    const row1 = ['1', '123-45-6789', 'ann@example.com', '41', '+1 555 0100', 'likes cats', 'Ann'];
    const row2 = ['1', '987-65-4321', 'ann@example.org', '42', '+1 555 0199', 'likes dogs', 'Ann B'];
    await tx(p, 0x100n, [{ tag: 'insert', relationId: 7, newTuple: row1 }]);
    await tx(p, 0x200n, [{ tag: 'update', relationId: 7, keyTuple: null, oldTuple: row1, newTuple: row2 }]);
    await tx(p, 0x300n, [{ tag: 'delete', relationId: 7, keyTuple: null, oldTuple: row2 }]);
    const all = sink.out.map((m) => m.body).join('\n');
    // As a JSON string, or as a JSON number (age is an int4): hex digits may contain "41".
    for (const secret of [...row1, ...row2].filter((v) => !['1', 'Ann', 'Ann B'].includes(v))) {
      expect(all).not.toContain(JSON.stringify(secret));
      expect(all).not.toMatch(new RegExp(`:${secret}[,}]`));
    }
    const data = sink.out.map((m) => JSON.parse(m.body) as { type: string; data: Record<string, unknown> });
    const facts = data.filter((e) => e.type === 'io.sluice.fact');
    expect(facts[0]!.data.row).toEqual({
      id: 1,
      email: hash('ann@example.com'),
      age: hash('41'),
      phone: REDACTED,
      notes: null,
      name: 'Ann',
    });
    const deltas = data.filter((e) => e.type === 'io.sluice.delta');
    // Redacted and nulled columns look unchanged; hashed ones change with their values.
    expect(deltas[1]!.data.changes).toEqual({
      email: { old: hash('ann@example.com'), new: hash('ann@example.org') },
      age: { old: hash('41'), new: hash('42') },
      name: { old: 'Ann', new: 'Ann B' },
    });
    expect(Object.keys((deltas[2]!.data.changes as object) ?? {})).toEqual([
      'id',
      'email',
      'age',
      'phone',
      'notes',
      'name',
    ]);
    // The registry describes what consumers get.
    const [v1] = registry.history('public.customers');
    expect(v1!.columns!.map((c) => [c.name, c.type, c.nullable, c.mask])).toEqual([
      ['id', 'pg_catalog.int4', false, undefined],
      ['email', 'pg_catalog.text', true, 'hash'],
      ['age', 'pg_catalog.text', false, 'hash'],
      ['phone', 'pg_catalog.text', true, 'redact'],
      ['notes', 'pg_catalog.text', true, 'null'],
      ['name', 'pg_catalog.text', true, undefined],
    ]);
    expect(Object.keys(v1!.schema.properties as object)).not.toContain('ssn');
  });

  it('records a new schema version when the policy changes, and the same one without a policy as before', async () => {
    const plain = processor(ColumnPolicy.none);
    await plain.p.handle(customers);
    const none = processor(new ColumnPolicy({}, undefined));
    await none.p.handle(customers);
    const masked = processor(policy);
    await masked.p.handle(customers);
    const fp = (r: MemorySchemaRegistry) => r.history('public.customers')[0]!.fingerprint;
    expect(fp(none.registry)).toBe(fp(plain.registry));
    expect(fp(masked.registry)).not.toBe(fp(plain.registry));
  });

  it('refuses a relation whose key the policy masks', async () => {
    const { p } = processor(new ColumnPolicy({ 'public.customers': { mask: { id: 'hash' } } }, SALT));
    await expect(p.handle(customers)).rejects.toMatchObject({
      code: 'SLUICE_CONFIG',
      message: expect.stringMatching(/id is part of the table's identity/),
    });
  });

  it('never takes an old value from a fact published before the column was masked', async () => {
    // Default replica identity: an update has no old tuple, so the old row comes from the fact.
    const plainRel = { ...customers, replicaIdentity: 'default' } as PgoutputMessage & { tag: 'relation' };
    const rel: PgoutputMessage = {
      ...plainRel,
      columns: plainRel.columns.map((c) => ({ ...c, isKey: c.name === 'id' })),
    };
    const registry = new MemorySchemaRegistry();
    const before = processor(ColumnPolicy.none, registry);
    await before.p.handle(rel);
    const row = ['1', '123-45-6789', 'ann@example.com', '41', '+1 555 0100', 'likes cats', 'Ann'];
    await tx(before.p, 0x100n, [{ tag: 'insert', relationId: 7, newTuple: row }]);
    const fact = before.sink.out.find((m) => m.subject === 'cdc.fact.public.customers.1')!;
    expect(fact.body).toContain('ann@example.com');

    const after = processor(policy, registry, new Map([[fact.subject, fact.body]]));
    await after.p.handle(rel);
    const next = ['1', '123-45-6789', 'ann@example.org', '41', '+1 555 0100', 'likes cats', 'Ann B'];
    await tx(after.p, 0x200n, [
      { tag: 'update', relationId: 7, keyTuple: null, oldTuple: null, newTuple: next },
    ]);
    const all = after.sink.out.map((m) => m.body).join('\n');
    expect(all).not.toContain('ann@example.com');
    const delta = after.sink.out.find((m) => m.subject === 'cdc.delta.public.customers.update.1')!;
    const changes = (JSON.parse(delta.body) as { data: { changes: Record<string, unknown> } }).data.changes;
    expect(changes.email).toEqual({ new: hash('ann@example.org') });
    expect(changes.name).toEqual({ old: 'Ann', new: 'Ann B' });
  });

  it('reads key values at their place in the tuple when an excluded column comes before the key', async () => {
    const rel: PgoutputMessage = {
      tag: 'relation',
      relationId: 9,
      schema: 'public',
      table: 'people',
      replicaIdentity: 'default',
      columns: [
        { isKey: false, name: 'ssn', typeOid: 25, typeMod: -1 },
        { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
        { isKey: false, name: 'name', typeOid: 25, typeMod: -1 },
      ],
    };
    const people = new ColumnPolicy({ 'public.people': { exclude: ['ssn'] } }, undefined);
    const fetched: string[] = [];
    const sink = new Sink();
    const p = new ChangeProcessor({
      prefix: 'cdc',
      source: 'shop',
      sink,
      catalog,
      registry: new MemorySchemaRegistry(),
      facts: {
        lastFact: async (subject) => (fetched.push(subject), null),
        purgeTable: async () => {},
      },
      cache: new RowCache(1000),
      lastFact: null,
      lastDelta: null,
      log: silentLogger(),
      columns: people,
    });
    await p.handle(rel);
    const update: PgoutputMessage = {
      tag: 'update',
      relationId: 9,
      keyTuple: null,
      oldTuple: null,
      newTuple: ['123-45-6789', '5', 'Bo'],
    };
    // Queued before it is processed: the previous fact is read ahead, by the key's subject.
    p.prefetch({ tag: 'begin', finalLsn: 0x100n, commitTime: 0n, xid: 1 });
    p.prefetch(update);
    await tx(p, 0x100n, [{ tag: 'insert', relationId: 9, newTuple: ['123-45-6789', '4', 'Al'] }, update]);
    expect(fetched).toEqual(['cdc.fact.public.people.5']);
    const facts = sink.out.filter((m) => m.subject.startsWith('cdc.fact.'));
    expect(facts.map((m) => (JSON.parse(m.body) as { data: { row: unknown } }).data.row)).toEqual([
      { id: 4, name: 'Al' },
      { id: 5, name: 'Bo' },
    ]);
    expect(sink.out.map((m) => m.body).join('')).not.toContain('123-45-6789');
  });
});
