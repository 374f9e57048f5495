import { describe, expect, it } from 'vitest';
import { redactSetting, redactUrl } from './redact.js';

describe('redactUrl', () => {
  it.each([
    ['postgres://app:s3cret@db:5432/shop', 'postgres://app:***@db:5432/shop'],
    ['postgres://app@db/shop?sslmode=verify-full', 'postgres://app@db/shop?sslmode=verify-full'],
    ['postgresql://app:p%40ss@db/shop', 'postgresql://app:***@db/shop'],
    ['postgres://db/shop', 'postgres://db/shop'],
    ['nats://u:pw@a:4222,nats://u:pw2@b:4222', 'nats://u:***@a:4222,nats://u:***@b:4222'],
    ['nats://tok3n@a:4222', 'nats://***@a:4222'],
    ['tls://a:4222', 'tls://a:4222'],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});

describe('redactSetting', () => {
  it('hides secrets entirely and passwords inside URLs', () => {
    expect(redactSetting('natsPassword', 'pw')).toBe('***');
    expect(redactSetting('natsToken', 'tok')).toBe('***');
    expect(redactSetting('databaseUrl', 'postgres://a:b@h/d')).toBe('postgres://a:***@h/d');
    expect(redactSetting('readDatabaseUrl', 'postgres://a:b@h/d')).toBe('postgres://a:***@h/d');
    expect(redactSetting('prefix', 'cdc')).toBe('cdc');
  });
});
