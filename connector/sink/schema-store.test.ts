import { describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { KvSchemaRegistry, schemaKey } from './schema-store.js';

/** The three KV calls the registry makes, over a Map (the registry's own logic is under test). */
function memoryKv(): KV {
  const m = new Map<string, { value: string; revision: number }>();
  let rev = 0;
  const entry = (k: string) => {
    const e = m.get(k);
    return e ? { length: e.value.length, revision: e.revision, json: () => JSON.parse(e.value) } : null;
  };
  return {
    get: async (k: string) => entry(k),
    create: async (k: string, v: string) => {
      if (m.has(k)) throw new Error('exists');
      m.set(k, { value: v, revision: ++rev });
      return rev;
    },
    update: async (k: string, v: string, r: number) => {
      if (m.get(k)?.revision !== r) throw new Error('wrong revision');
      m.set(k, { value: v, revision: ++rev });
      return rev;
    },
  } as unknown as KV;
}

describe('KvSchemaRegistry', () => {
  it('only ever raises schemaVersion, and a replay finds the version a layout had there', async () => {
    const r = new KvSchemaRegistry(memoryKv());
    expect(await r.resolve('public.t', 'A', {}, 100n)).toBe(1);
    expect(await r.resolve('public.t', 'A', {}, 150n)).toBe(1);
    expect(await r.resolve('public.t', 'B', {}, 200n)).toBe(2);
    // back to the first layout (a column added, then dropped): a new, higher version
    expect(await r.resolve('public.t', 'A', {}, 300n)).toBe(3);
    // replays after a restart: each position gets the version it had
    expect(await r.resolve('public.t', 'A', {}, 120n)).toBe(1);
    expect(await r.resolve('public.t', 'B', {}, 250n)).toBe(2);
    expect(await r.resolve('public.t', 'A', {}, 310n)).toBe(3);
    expect(await r.resolve('other.t', 'A', {}, 310n)).toBe(1);
  });

  it('uses KV-safe keys', () => {
    expect(schemaKey('public.orders')).toBe('public.orders');
    expect(schemaKey('Odd Schema.Mixed Case')).toMatch(/^=[-_A-Za-z0-9]+\.=[-_A-Za-z0-9]+$/);
  });
});
