import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { QUEUE_HIGH, QUEUE_LOW } from '../connector/decode-queue.js';
import {
  formatDefault,
  plainDefault,
  settingDefaults,
  settingRows,
  withSettingsTable,
} from './config-docs.js';

const docsDir = fileURLToPath(new URL('../docs/', import.meta.url));
const read = (name: string) => readFileSync(docsDir + name, 'utf8');

describe('docs/configuration.md', () => {
  it('holds the settings table generated from connector/config.ts (else run `npm run docs:config`)', () => {
    const committed = read('configuration.md');
    expect(committed).toBe(withSettingsTable(committed));
  });

  it('documents every setting, with a description and a unit or a set of values', () => {
    const rows = settingRows();
    expect(rows.map((r) => r.path)).toContain('publish.maxInFlightBytes');
    for (const r of rows) {
      expect(r.description, r.path).not.toBe('');
      expect(r.unit, r.path).not.toBe('');
    }
  });
});

describe('figures stated in docs/', () => {
  const files = readdirSync(docsDir).filter((f) => f.endsWith('.md'));
  const defaults = settingDefaults();
  // "`publish.maxInFlightBytes` (default 16 MiB)", possibly broken over two lines, or followed by "; …".
  const stated = files.flatMap((file) =>
    [...read(file).matchAll(/`([A-Za-z.]+)` \(default\s+([^);]+)[);]/g)].map((m) => ({
      file,
      setting: m[1]!,
      figure: m[2]!.replace(/\s+/g, ' ').trim(),
    })),
  );

  it('finds the stated defaults', () => {
    expect(stated.length).toBeGreaterThanOrEqual(6);
  });

  it.each(stated)('$file: `$setting` (default $figure) is the code default', ({ setting, figure }) => {
    const d = defaults.get(setting);
    expect(d, `${setting} is not a setting with a default`).toBeDefined();
    expect(figure).toBe(plainDefault(d!.value, d!.unit));
  });

  it('operations.md states the decode queue marks of connector/decode-queue.ts', () => {
    const text = read('operations.md').replace(/\s+/g, ' ');
    const m = /above ([\d,]+) messages the connector stops reading .*? it resumes below ([\d,]+)\./.exec(
      text,
    );
    const n = (v: number) => v.toLocaleString('en-US');
    expect(m?.slice(1)).toEqual([n(QUEUE_HIGH), n(QUEUE_LOW)]);
  });
});

describe('the generator', () => {
  it.each([
    [16 * 1024 * 1024, 'bytes', '`16777216` (16 MiB)', '16 MiB'],
    [1000, 'bytes', '`1000`', '1000 bytes'],
    [7 * 24 * 3600, 'seconds', '`604800` (7 days)', '7 days'],
    [120, 'seconds', '`120`', '120 s'],
    [20_000, 'rows', '`20000`', '20000'],
    [['*.*'], undefined, '`*.*`', '*.*'],
    ['cdc', undefined, '`cdc`', 'cdc'],
  ] as const)('shows %j %s as %s in the table and %s in prose', (value, unit, table, prose) => {
    expect(formatDefault(value, unit)).toBe(table);
    expect(plainDefault(value, unit)).toBe(prose);
  });

  it('refuses a setting without a description, naming it', () => {
    const schema = z.object({
      a: z.number().default(1).meta({ description: 'A.' }),
      b: z.number().default(2),
    });
    expect(() => settingRows(schema, {})).toThrow('b has no description');
  });

  it('refuses an environment variable for a setting that does not exist', () => {
    const schema = z.object({ a: z.number().default(1).meta({ description: 'A.' }) });
    expect(() => settingRows(schema, { SLUICE_B: { path: ['b'], type: 'number' } })).toThrow(
      'SLUICE_B sets b, which is not a setting',
    );
  });

  it('derives bounds, choices and lengths from the schema', () => {
    const schema = z.object({
      n: z
        .number()
        .int()
        .min(1)
        .max(10)
        .default(5)
        .meta({ description: 'N.', unit: 'rows', note: '1 = one' }),
      e: z.enum(['x', 'y']).default('x').meta({ description: 'E.' }),
      s: z.string().max(59).meta({ description: 'S.', unit: 'identifier' }),
      t: z.number().positive().meta({ description: 'T.', unit: 'seconds' }),
    });
    const rows = settingRows(schema, { SLUICE_S: { path: ['s'], type: 'list' } });
    expect(rows.map((r) => [r.path, r.defaultText, r.unit, r.env, r.envList])).toEqual([
      ['n', '`5`', 'rows, 1–10 (1 = one)', undefined, false],
      ['e', '`x`', '`x` or `y`', undefined, false],
      ['s', '**required**', 'identifier, ≤ 59 characters', 'SLUICE_S', true],
      ['t', '**required**', 'seconds, > 0', undefined, false],
    ]);
  });
});
