import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NatsConnectError, NatsConnectFailures, natsConnectionOptions } from './nats-connect.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-nats-connect-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const url = 'nats://127.0.0.1:4222';

function failure(t: Parameters<typeof natsConnectionOptions>[0]): NatsConnectError {
  try {
    natsConnectionOptions(t);
  } catch (e) {
    if (e instanceof NatsConnectError) return e;
    throw e;
  }
  throw new Error('expected a NatsConnectError');
}

describe('natsConnectionOptions', () => {
  it('plain URL: servers only, no TLS, no authenticator', () => {
    const o = natsConnectionOptions({ natsUrl: `${url}, nats://127.0.0.1:4223` });
    expect(o).toEqual({ servers: [url, 'nats://127.0.0.1:4223'] });
  });

  it('TLS files are read now and make TLS required', () => {
    const o = natsConnectionOptions({
      natsUrl: url,
      natsTlsCa: file('ca.pem', 'CA'),
      natsTlsCert: file('c.pem', 'CERT'),
      natsTlsKey: file('k.pem', 'KEY'),
    });
    expect(o.tls).toEqual({ ca: 'CA', cert: 'CERT', key: 'KEY' });
  });

  it('a tls:// URL asks for TLS with the system CAs', () => {
    expect(natsConnectionOptions({ natsUrl: 'tls://h:4222' }).tls).toEqual({});
  });

  it.each([
    [{ natsUser: 'u' }, 'natsPassword (SLUICE_NATS_PASSWORD)'],
    [{ natsPassword: 'p' }, 'natsUser (SLUICE_NATS_USER)'],
    [{ natsUser: 'u', natsPassword: 'p', natsToken: 't' }, 'natsToken (SLUICE_NATS_TOKEN)'],
    [{ natsTlsCert: '/x' }, 'natsTlsKey (SLUICE_NATS_TLS_KEY)'],
    [{ natsTlsCa: join(dir, 'missing.pem') }, 'natsTlsCa (SLUICE_NATS_TLS_CA)'],
    [{ natsNkeySeed: file('bad.nk', 'not a seed') }, 'natsNkeySeed (SLUICE_NATS_NKEY_SEED)'],
  ])('%j is a config error naming %s', (settings, named) => {
    const e = failure({ natsUrl: url, ...settings });
    expect(e.code).toBe(NatsConnectFailures.config);
    expect(e.message).toContain(named);
  });

  it('a valid seed and a token each give an authenticator', () => {
    expect(natsConnectionOptions({ natsUrl: url, natsToken: 'tok' }).authenticator).toBeTypeOf('function');
    const seed = file('u.nk', 'SUAM4HZ4XXP3RKL3BYVDGFTSOZCNCSXH5DCVJJZ2Y4HVLPUVJY6VO6KNGY\n');
    expect(natsConnectionOptions({ natsUrl: url, natsNkeySeed: seed }).authenticator).toBeTypeOf('function');
  });
});
