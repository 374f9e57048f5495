import { describe, expect, it } from 'vitest';
import { parseReadModelsConfig } from './config.js';
import { ReadModelError } from './errors.js';

const ENV = {
  SLUICE_NATS_URL: 'nats://127.0.0.1:4222',
  SLUICE_READ_DATABASE_URL: 'postgres://u:secret@h/reads',
};
const MODEL = { name: 'customer_list', key: ['id'], sql: 'SELECT c.id FROM customers c' };

describe('parseReadModelsConfig', () => {
  it('reads the file, the environment wins, defaults apply, the connector settings are left alone', () => {
    const cfg = parseReadModelsConfig(
      { databaseUrl: 'postgres://src/db', slot: 'x', readModels: [MODEL], prefix: 'shop' },
      { ...ENV, SLUICE_READ_MODELS_SCHEMA: 'views' },
    );
    expect(cfg).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      prefix: 'shop',
      readDatabaseUrl: 'postgres://u:secret@h/reads',
      readModelsSchema: 'views',
      readModelsSourceSchema: 'public',
      readModelsBatchFacts: 5000,
      readModelsHttpPort: 8082,
      queryFenceTimeoutMs: 5000,
      readModels: [MODEL],
    });
    expect(Object.isFrozen(cfg.readModels[0])).toBe(true);
  });

  it("takes the query API's port from SLUICE_HTTP_PORT, not from the connector's httpPort in the file", () => {
    const cfg = parseReadModelsConfig(
      { httpPort: 8080 },
      { ...ENV, SLUICE_HTTP_PORT: '9001', SLUICE_QUERY_FENCE_TIMEOUT_MS: '250' },
    );
    expect(cfg).toMatchObject({ readModelsHttpPort: 9001, queryFenceTimeoutMs: 250 });
    expect(() => parseReadModelsConfig({}, { ...ENV, SLUICE_HTTP_PORT: 'eighty' })).toThrow(
      /readModelsHttpPort \(SLUICE_HTTP_PORT\): .*got "eighty"/,
    );
  });

  it('takes definitions given in TypeScript', () => {
    expect(parseReadModelsConfig({}, ENV, { readModels: [MODEL] }).readModels).toEqual([MODEL]);
  });

  it.each([
    [{}, {}, /^natsUrl \(SLUICE_NATS_URL\) is required\.$/],
    [{}, { SLUICE_NATS_URL: 'nats://h:1' }, /^readDatabaseUrl \(SLUICE_READ_DATABASE_URL\) is required\.$/],
    [
      { readDatabaseUrl: 'mysql://u:pw@h/x' },
      { SLUICE_NATS_URL: 'nats://h:1' },
      /got "mysql:\/\/u:\*\*\*@h\/x"/,
    ],
    [
      { readModels: [{ ...MODEL, name: 'Bad-Name' }] },
      ENV,
      /^readModels\.0\.name: expected a lower-case identifier/,
    ],
    [{ readModels: [{ ...MODEL, key: [] }] }, ENV, /^readModels\.0\.key: expected at least one key column/],
    [{ readModels: [{ ...MODEL, keys: ['id'] }] }, ENV, /^readModels\.0/],
    [{ readModels: [MODEL, MODEL] }, ENV, /the name "customer_list" is used twice/],
  ])('refuses %j with one sentence', (file, env, message) => {
    let err: unknown;
    try {
      parseReadModelsConfig(file, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ReadModelError);
    expect((err as Error).message).toMatch(message);
  });
});
