import { describe, expect, it } from 'vitest';
import { comparePositions, formatLsn, formatVersion, parseLsn, parseVersion } from './versions.js';

describe('versions', () => {
  it('orders by string comparison exactly as positions order', () => {
    const positions = [
      { commitLsn: 0n, commitIdx: 0 },
      { commitLsn: 0x10n, commitIdx: 0 },
      { commitLsn: 0x10n, commitIdx: 1 },
      { commitLsn: 0x10n, commitIdx: 0xffff },
      { commitLsn: 0x1_0000_0000n, commitIdx: 0 },
      { commitLsn: 0xffff_ffff_ffff_fff0n, commitIdx: 3 },
    ];
    const shuffled = [...positions].reverse();
    const byString = [...shuffled].sort((a, b) => {
      const va = formatVersion(a.commitLsn, a.commitIdx);
      const vb = formatVersion(b.commitLsn, b.commitIdx);
      return va < vb ? -1 : va > vb ? 1 : 0;
    });
    expect(byString).toEqual([...shuffled].sort(comparePositions));
    expect(byString).toEqual(positions);
  });

  it('round-trips', () => {
    const v = formatVersion(0x16b374d848n, 7);
    expect(v).toBe('00000016b374d848-00000007');
    expect(parseVersion(v)).toEqual({ commitLsn: 0x16b374d848n, commitIdx: 7 });
    expect(() => parseVersion('16/B374D848')).toThrow(/not a Sluice version/);
  });

  it('parses and prints LSNs in both paddings', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(parseLsn('00000016/0B374D84')).toBe(0x160b374d84n);
    expect(formatLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(formatLsn(0n)).toBe('0/0');
    expect(() => parseLsn('nope')).toThrow(/not an LSN/);
  });
});
