import { describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { KvSchemaRegistry } from './schema-store.js';
import type { TableShape } from '../../schemas/registry.js';

/** The KV calls the writer makes, over a Map, with a write sneaking in once (compare-and-set). */
function memoryKv(interfere: () => string | null) {
  const m = new Map<string, { value: string; revision: number }>();
  let rev = 0;
  const entry = (k: string) => {
    const e = m.get(k);
    return e ? { length: e.value.length, revision: e.revision, string: () => e.value } : null;
  };
  const kv = {
    get: async (k: string) => entry(k),
    create: async (k: string, v: string) => {
      const sneak = interfere();
      if (sneak !== null) m.set(k, { value: sneak, revision: ++rev });
      if (m.has(k)) throw new Error('exists');
      m.set(k, { value: v, revision: ++rev });
      return rev;
    },
    update: async (k: string, v: string, r: number) => {
      if (m.get(k)?.revision !== r) throw new Error('wrong revision');
      m.set(k, { value: v, revision: ++rev });
      return rev;
    },
  };
  return { kv: kv as unknown as KV, m };
}

const shape = (fingerprint: string): TableShape => ({
  table: 'public.t',
  fingerprint,
  columns: [],
  key: [],
  schema: {},
});

describe('KvSchemaRegistry', () => {
  it('stores what resolveVersion decides, retrying when another writer got there first', async () => {
    let calls = 0;
    const other = JSON.stringify([{ version: 1, fingerprint: 'X', since: '5', position: null, schema: {} }]);
    const { kv, m } = memoryKv(() => (++calls === 1 ? other : null));
    const r = new KvSchemaRegistry(kv);
    const a = await r.resolve(shape('A'), { commitLsn: 10n, commitIdx: 0 });
    expect(a.entry.version).toBe(2); // the first attempt lost to the other writer's version 1
    expect(JSON.parse(m.get('public.t')!.value).map((v: { fingerprint: string }) => v.fingerprint)).toEqual([
      'X',
      'A',
    ]);
    expect((await r.resolve(shape('A'), { commitLsn: 11n, commitIdx: 0 })).changed).toBe(false);
  });
});
