/**
 * Permanent misconfigurations stop the connector with the fix instead of retrying forever: a slot
 * of the same name made by another plugin, and a server without a free replication slot. Each is
 * the error's code (connector/errors.ts) and one sentence naming the cause and the fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type SluiceEnv } from './env.js';
import { SluiceError } from '../../connector/errors.js';

let env: SluiceEnv;

beforeAll(async () => {
  env = await startEnv();
  await env.sql(`CREATE TABLE t (id int PRIMARY KEY)`);
});

afterAll(async () => {
  await env?.close();
});

/** Runs a connector until it gives up; fails the test if it is still retrying after 30 s. */
async function fatalError(extra: Record<string, string>): Promise<SluiceError> {
  const c = env.startConnector(extra);
  const outcome = await Promise.race([
    c.done.then(
      () => null,
      (e: unknown) => e,
    ),
    new Promise((resolve) => setTimeout(() => resolve('still retrying'), 30_000).unref()),
  ]);
  if (outcome === 'still retrying') {
    const { lastError, lastErrorCode } = c.connector.status;
    await c.stop();
    expect.fail(`still retrying after 30 s: ${lastErrorCode} ${lastError}`);
  }
  expect(outcome).toBeInstanceOf(SluiceError);
  return outcome as SluiceError;
}

describe('permanent misconfigurations', () => {
  it('stop at a slot of the same name made by another plugin', async () => {
    await env.sql(`SELECT pg_create_logical_replication_slot('taken', 'test_decoding')`);
    const err = await fatalError({ SLUICE_SLOT: 'taken' });
    expect(err.code).toBe('PG_SLOT_CONFLICT');
    expect(err.message).toMatch(
      /^replication slot taken exists for test_decoding on database \S+, not pgoutput/,
    );
    expect(err.hint).toMatch(/SLUICE_SLOT/);
    await env.sql(`SELECT pg_drop_replication_slot('taken')`);
  });

  it('stop when the server has no free replication slot', async () => {
    const max = (await env.sql<{ n: number }>(`SELECT current_setting('max_replication_slots')::int AS n`))
      .rows[0]!.n;
    const used = Number(
      (await env.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_replication_slots`)).rows[0]!.n,
    );
    expect(max).toBeGreaterThan(0);
    const fillers = Array.from({ length: max - used }, (_, i) => `filler_${i}`);
    for (const f of fillers)
      await env.sql(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, [f]);
    try {
      const err = await fatalError({ SLUICE_SLOT: 'one_too_many' });
      expect(err.code).toBe('PG_NO_FREE_SLOTS');
      expect(err.hint).toMatch(/max_replication_slots/);
    } finally {
      for (const f of fillers) await env.sql(`SELECT pg_drop_replication_slot($1)`, [f]);
    }
  });
});
