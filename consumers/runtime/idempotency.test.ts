import { describe, expect, it } from 'vitest';
import { isNewer, upsertIfNewer, upsertIfNewerSql } from './idempotency.js';

describe('isNewer', () => {
  it.each<[string, string | null | undefined, boolean]>([
    ['000000000198cae8-00000000', null, true],
    ['000000000198cae8-00000000', undefined, true],
    ['000000000198cae8-00000001', '000000000198cae8-00000000', true],
    ['000000000198cae8-00000000', '000000000198cae8-00000000', false],
    ['000000000198cae8-00000000', '0000000001a00000-00000000', false],
  ])('%s over %s: %s', (v, held, want) => {
    expect(isNewer(v, held)).toBe(want);
  });
});

describe('upsertIfNewer', () => {
  it('builds one guarded upsert', () => {
    expect(upsertIfNewerSql('read.customers', ['id'], ['name', 'deleted'])).toBe(
      'INSERT INTO "read"."customers" ("id", "name", "deleted", "version") VALUES ($1, $2, $3, $4) ' +
        'ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "deleted" = EXCLUDED."deleted", "version" = EXCLUDED."version" ' +
        'WHERE "read"."customers"."version" COLLATE "C" < EXCLUDED."version"',
    );
  });

  it('passes key, row and version in column order, JSON for objects, and reports whether it wrote', async () => {
    const calls: { text: string; params: unknown[] }[] = [];
    const db = {
      query: async (text: string, params: unknown[] = []) => {
        calls.push({ text, params });
        return { rowCount: calls.length === 1 ? 1 : 0 };
      },
    };
    const key = { order_id: '3', line_no: 1 };
    const row = { order_id: '3', line_no: 1, tags: ['a'], qty: 2 };
    expect(await upsertIfNewer(db, 'items', key, row, 'v2')).toBe(true);
    expect(await upsertIfNewer(db, 'items', key, row, 'v1')).toBe(false);
    expect(calls[0]!.params).toEqual(['3', 1, '["a"]', 2, 'v2']);
    expect(calls[0]!.text).toContain('ON CONFLICT ("order_id", "line_no")');
  });
});
