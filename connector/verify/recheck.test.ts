import { describe, expect, it } from 'vitest';
import type { FactState } from './compare.js';
import { recheck, type RecheckState } from './recheck.js';

const row = (o: Record<string, string>) => new Map(Object.entries(o));

const fact = (
  o: { deleted?: boolean; version?: string; row?: Record<string, string> | null } = {},
): FactState => ({
  deleted: o.deleted ?? false,
  version: o.version ?? '0000000001000000-00000000',
  row: o.row === null ? null : row(o.row ?? { id: '1', v: '"a"' }),
  key: row({ id: '1' }),
  isReference: false,
});

describe('recheck', () => {
  const v1 = fact({ version: '0000000001000000-00000000', row: { id: '1', v: '"old"' } });
  const v2 = fact({ version: '0000000002000000-00000000', row: { id: '1', v: '"new"' } });
  const state = (o: Partial<RecheckState>): RecheckState => ({
    row: row({ id: '1', v: '"new"' }),
    readLsn: 0x2000100n,
    factBeforeRead: null,
    ...o,
  });
  const id = (f: FactState | null) => `${f === null ? '-' : f.version}|-`;

  it.each([
    // The connector caught up: the fact now equals the row.
    ['the fact caught up with the row', state({ factBeforeRead: id(v1) }), v2, 'resolved'],
    // The fact did not change across a read of the row and a confirmed position past it: real.
    [
      'the same stale fact before and after the read',
      state({ row: row({ id: '1', v: '"x"' }), factBeforeRead: id(v2) }),
      v2,
      'real',
    ],
    ['no fact before and after the read', state({ factBeforeRead: id(null) }), null, 'real'],
    // The fact changed while the row was read: the row is read again.
    [
      'a newer fact than the one before the read',
      state({ row: row({ id: '1', v: '"x"' }), factBeforeRead: id(v1) }),
      v2,
      'reread',
    ],
    ['no fact seen before the read yet', state({ row: row({ id: '1', v: '"x"' }) }), v2, 'reread'],
    [
      'a row deleted since, fact deleted too',
      state({ row: null, factBeforeRead: id(v2) }),
      fact({ deleted: true, version: '0000000003000000-00000000' }),
      'resolved',
    ],
  ])('%s', (_name, s, f, kind) => {
    expect(recheck(s, f, null).kind).toBe(kind);
  });

  it('reports the verdict of a real difference and the identity to remember otherwise', () => {
    const real = recheck(state({ row: null, factBeforeRead: id(v2) }), v2, null);
    expect(real).toEqual({ kind: 'real', verdict: { kind: 'missing-in-table' } });
    expect(recheck(state({ row: null }), v2, null)).toEqual({ kind: 'reread', factIdentity: id(v2) });
  });

  it('treats a TRUNCATE marker that appeared since as a change of the fact', () => {
    const s = state({ factBeforeRead: id(v1) });
    expect(recheck({ ...s, row: row({ id: '1', v: '"new"' }) }, v1, '0000000005000000-00000000').kind).toBe(
      'reread',
    );
  });
});
