import { describe, expect, it } from 'vitest';
import { loadRuntimeSettings } from './runtime-settings.js';

describe('loadRuntimeSettings', () => {
  it('fills defaults and lets the environment win over the file', () => {
    expect(
      loadRuntimeSettings({ SLUICE_NATS_URL: 'nats://a:4222' }, { prefix: 'shop', natsUrl: 'nats://b:1' }),
    ).toEqual({
      natsUrl: 'nats://a:4222',
      prefix: 'shop',
      httpPort: 8081,
      logLevel: 'info',
    });
    expect(
      loadRuntimeSettings({ SLUICE_NATS_URL: 'nats://a:1', SLUICE_CONSUMERS_HTTP_PORT: '0' }).httpPort,
    ).toBe(0);
  });

  it.each([
    [{}, /SLUICE_NATS_URL is not set/],
    [{ SLUICE_NATS_URL: 'localhost' }, /SLUICE_NATS_URL: expected nats:\/\/host:port.*got "localhost"/],
    [{ SLUICE_NATS_URL: 'nats://a:1', SLUICE_PREFIX: 'a.b' }, /SLUICE_PREFIX: expected one subject token/],
    [{ SLUICE_NATS_URL: 'nats://a:1', SLUICE_CONSUMERS_HTTP_PORT: 'x' }, /SLUICE_CONSUMERS_HTTP_PORT/],
  ])('%j fails: %s', (env, msg) => {
    expect(() => loadRuntimeSettings(env)).toThrow(msg);
  });
});
