import { describe, expect, it } from 'vitest';
import type { TableInfo } from '../ports.js';
import { keyTokenOf } from '../events/tables.js';
import { NO_KEY_TOKEN } from '../../schemas/keys.js';
import { Chunk } from './chunk.js';

/** Just what a chunk reads of a table: its relation id and identity columns. */
const table = (relationId: number): TableInfo => ({ relationId, keyIdx: [0] }) as unknown as TableInfo;
const T = table(1);
const rows = [
  ['1', '"a"'],
  ['2', '"b"'],
  ['3', '"c"'],
];
const token = (row: string[]) => keyTokenOf(T, row);

describe('Chunk', () => {
  it('drops the rows whose keys changed while the window was open', () => {
    const c = new Chunk('c1', T);
    c.openWindow();
    c.noteChange(T, token(rows[1]!));
    expect(c.closeWindow()).toBe(true);
    expect(c.unchangedRows(rows)).toEqual([rows[0], rows[2]]);
  });

  it('ignores changes before the low watermark and of other tables', () => {
    const c = new Chunk('c1', T);
    c.noteChange(T, token(rows[0]!));
    c.openWindow();
    c.noteChange(table(2), token(rows[1]!));
    c.noteChange(table(2), NO_KEY_TOKEN);
    c.closeWindow();
    c.noteChange(T, token(rows[2]!));
    expect(c.unchangedRows(rows)).toEqual(rows);
  });

  it('keeps no row when the table was truncated in the window', () => {
    const c = new Chunk('c1', T);
    c.openWindow();
    c.noteChange(T, NO_KEY_TOKEN);
    c.closeWindow();
    expect(c.unchangedRows(rows)).toEqual([]);
  });

  it('ignores a high watermark whose window is not open', () => {
    const c = new Chunk('c1', T);
    expect(c.closeWindow()).toBe(false);
    c.openWindow();
    expect(c.closeWindow()).toBe(true);
    expect(c.closeWindow()).toBe(false);
  });

  it('settles done, acked and rejections through its own functions', async () => {
    const c = new Chunk('c1', T);
    c.resolve(2);
    c.ack();
    await expect(c.done).resolves.toBe(2);
    await expect(c.acked).resolves.toBeUndefined();
    const d = new Chunk('c2', T);
    d.reject(new Error('session ended'));
    await expect(d.done).rejects.toThrow('session ended');
  });
});
