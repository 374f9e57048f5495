import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { SluiceError } from './errors.js';

const base = { SLUICE_DATABASE_URL: 'postgres://u:secret@db:5432/shop', SLUICE_NATS_URL: 'nats://n:4222' };

describe('config', () => {
  it('needs only the two URLs and fills documented defaults', () => {
    const c = loadConfig({ env: base });
    expect(c.prefix).toBe('cdc');
    expect(c.slot).toBe('sluice');
    expect(c.publication).toBe('sluice');
    expect(c.source).toBe('shop');
    expect(c.streams.duplicateWindowSec).toBe(120);
    expect(c.publish.maxInFlight).toBe(4096);
    expect(c.heartbeatIntervalSec).toBe(5);
    expect(c.retainedWalWarnBytes).toBe(1024 ** 3);
    expect(Object.isFrozen(c) && Object.isFrozen(c.streams)).toBe(true);
  });

  it.each([
    [{ SLUICE_DATABASE_URL: undefined }, /databaseUrl \(SLUICE_DATABASE_URL\) is required\./],
    [
      { SLUICE_NATS_URL: 'localhost' },
      /natsUrl \(SLUICE_NATS_URL\): expected nats:\/\/host:port.*got "localhost"/,
    ],
    [{ SLUICE_HTTP_PORT: 'eighty' }, /httpPort \(SLUICE_HTTP_PORT\): .*got "eighty"/],
    [{ SLUICE_PREFIX: 'a.b' }, /prefix \(SLUICE_PREFIX\): expected one subject token/],
    [{ SLUICE_SLOT: 'Bad-Slot' }, /slot \(SLUICE_SLOT\): expected a lower-case identifier/],
    [{ SLUICE_DATABASE_URL: 'mysql://x' }, /databaseUrl .*expected postgres:\/\//],
    [
      { SLUICE_HEARTBEAT_INTERVAL_SEC: '-1' },
      /heartbeatIntervalSec \(SLUICE_HEARTBEAT_INTERVAL_SEC\): .*got -1/,
    ],
    [{ SLUICE_RETAINED_WAL_WARN_BYTES: '1.5' }, /retainedWalWarnBytes \(SLUICE_RETAINED_WAL_WARN_BYTES\)/],
  ])('rejects %j with one sentence naming the setting', (patch, message) => {
    const env = { ...base, ...patch };
    expect(() => loadConfig({ env })).toThrow(SluiceError);
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it('never prints the database password', () => {
    try {
      loadConfig({
        env: { ...base, SLUICE_DATABASE_URL: 'postgres://u:hunter2@db/x', SLUICE_TABLES: 'nodot' },
      });
      expect.unreachable();
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('hunter2');
    }
  });

  it('names unknown settings without echoing the configuration', () => {
    expect(() => loadConfig({ env: base, overrides: { bogus: 1 } })).toThrow(/^unknown setting bogus\.$/);
    expect(() =>
      loadConfig({
        env: { ...base, SLUICE_DATABASE_URL: 'postgres://u:hunter2@db/x' },
        overrides: { bogus: 1 },
      }),
    ).not.toThrow(/hunter2/);
    expect(() => loadConfig({ env: { ...base, SLUICE_TABLES: 'nodot' } })).toThrow(
      /^tables\.0 \(SLUICE_TABLES\): expected schema.table/,
    );
  });

  it('leaves the settings of other components in the same file to their parsers when told', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-cfg-')), 'sluice.yaml');
    writeFileSync(file, 'slot: s1\nreadDatabaseUrl: postgres://h/reads\nreadModels: []\n');
    expect(() => loadConfig({ env: base, file })).toThrow(/^unknown setting readDatabaseUrl, readModels\.$/);
    const c = loadConfig({ env: base, file, ignore: ['readDatabaseUrl', 'readModels'] });
    expect(c.slot).toBe('s1');
    expect(c).not.toHaveProperty('readModels');
  });

  it('lets env override the file and parses lists', () => {
    const c = loadConfig({ env: { ...base, SLUICE_TABLES: 'public.orders, public.order_items' } });
    expect(c.tables).toEqual(['public.orders', 'public.order_items']);
  });

  it('reads the column policy from SLUICE_COLUMNS (JSON) and the salt from SLUICE_MASK_SALT', () => {
    const columns = { 'public.customers': { exclude: ['ssn'], mask: { email: 'hash', phone: 'redact' } } };
    const c = loadConfig({
      env: { ...base, SLUICE_COLUMNS: JSON.stringify(columns), SLUICE_MASK_SALT: 'a-long-secret-salt-value' },
    });
    expect(c.columns).toEqual(columns);
    expect(c.maskSalt).toBe('a-long-secret-salt-value');
  });

  it.each([
    [{ SLUICE_COLUMNS: '{bad' }, /SLUICE_COLUMNS is not valid JSON\./],
    [{ SLUICE_COLUMNS: '{"public.t":{"mask":{"a":"hash"}}}' }, /"hash" but no salt is set/],
    [{ SLUICE_COLUMNS: '{"public.t":{"mask":{"a":"scramble"}}}' }, /columns\.public\.t\.mask\.a/],
    [
      { SLUICE_COLUMNS: '{"customers":{"exclude":["a"]}}' },
      /columns\.customers: expected the table named as "schema\.table"/,
    ],
  ])('refuses the column policy %j with one sentence', (patch, message) => {
    expect(() => loadConfig({ env: { ...base, ...patch } })).toThrow(message);
  });

  it('never shows the mask salt in an error', () => {
    const err = (() => {
      try {
        loadConfig({ env: { ...base, SLUICE_MASK_SALT: 'short-secret' } });
      } catch (e) {
        return e as SluiceError;
      }
    })()!;
    expect(err.message).toMatch(/maskSalt \(SLUICE_MASK_SALT\): expected at least 16 characters/);
    expect(err.message).not.toContain('short-secret');
  });
});
