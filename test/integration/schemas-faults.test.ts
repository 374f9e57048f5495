/**
 * Schema events across kill -9: under writes, each DDL is followed by a kill of `sluice run` at a
 * random moment and a restart, so crashes land before, on and after the Relation message that
 * starts a version (registry written, schema event not yet stored; stored, changes after it not).
 * Afterwards: every version has exactly one schema event, in order; every row event carries the
 * version in effect at its commit LSN; every committed change has exactly one delta.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, type SluiceEnv } from './env.js';
import { checkStreams, explained, faultDelay, prng, spawnStreaming, waitCaughtUp } from './faults-helpers.js';
import { SchemaEvent } from '../../schemas/events.js';
import { parseLsn } from '../../schemas/versions.js';

const SEED = Number(process.env.SLUICE_FAULT_SEED ?? 20261201);

let env: SluiceEnv;
beforeAll(async () => {
  env = await startEnv();
  await env.sql(`CREATE TABLE kdocs (id serial PRIMARY KEY, a int NOT NULL DEFAULT 1)`);
});
afterAll(async () => {
  await env?.close();
});

describe('faults: schema events across kill -9', () => {
  it(`records each DDL once, at its position, across kills right after it (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    let c = await spawnStreaming(env, {});
    const ddl = new pg.Client({ connectionString: env.dbUrl });
    const writer = new pg.Client({ connectionString: env.dbUrl });
    await Promise.all([ddl.connect(), writer.connect()]);
    let inserts = 0;
    let updates = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop) {
        const r = await writer.query<{ id: number }>('INSERT INTO kdocs DEFAULT VALUES RETURNING id');
        inserts++;
        await writer.query('UPDATE kdocs SET a = a + 1 WHERE id = $1', [Math.max(1, r.rows[0]!.id - 2)]);
        updates++;
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    // Version 1 takes effect with the table's first streamed change: let some happen first.
    await eventually(() => inserts >= 5 || Promise.reject(new Error(`${inserts} inserts`)), {
      timeout: 30_000,
    });
    const ddlAt: bigint[] = [];
    const kills: number[] = [];
    for (const statement of [
      'ADD COLUMN b text',
      'ADD COLUMN c int NOT NULL DEFAULT 3',
      'DROP COLUMN b',
      'RENAME COLUMN c TO d',
      'ALTER COLUMN d TYPE bigint',
      'ADD COLUMN e text',
    ]) {
      await ddl.query('BEGIN');
      await ddl.query(`ALTER TABLE kdocs ${statement}`);
      ddlAt.push(
        parseLsn(
          (await ddl.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l,
        ),
      );
      await ddl.query('COMMIT');
      const after = Math.floor(rnd() * 800);
      kills.push(after);
      await faultDelay(after);
      await c.kill('SIGKILL');
      c = await spawnStreaming(env, {});
    }
    stop = true;
    await writing;
    await Promise.all([ddl.end(), writer.end()]);
    await explained(env, c, () => waitCaughtUp(env));
    console.log(
      `schemas-faults: seed ${SEED}, kills ${kills.join(', ')} ms after each DDL; ${inserts} inserts, ${updates} updates`,
    );

    const { deltas, changesByTableOp } = await checkStreams(env);
    expect(changesByTableOp['kdocs.insert']).toBe(inserts);
    expect(changesByTableOp['kdocs.update']).toBe(updates);
    const schema = deltas
      .filter((m) => m.subject === 'cdc.schema.public.kdocs')
      .map((m) => SchemaEvent.parse(m.data).data);
    expect(schema.map((d) => d.schemaVersion)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const rows = deltas
      .filter((m) => m.subject.startsWith('cdc.delta.public.kdocs.'))
      .map((m) => (m.data as { data: { schemaVersion: number; version: string; tx: { lsn: string } } }).data);
    const wrong = rows.filter(
      (d) => d.schemaVersion !== 1 + ddlAt.filter((l) => l < parseLsn(d.tx.lsn)).length,
    );
    expect(wrong.map((d) => `${d.version} v${d.schemaVersion}`)).toEqual([]);
    // Each schema event sits right before the first change of its version.
    for (const s of schema.slice(1)) {
      const first = rows.find((d) => d.schemaVersion === s.schemaVersion);
      expect(first && first.version > s.version).toBe(true);
      expect(
        rows.filter((d) => d.schemaVersion === s.schemaVersion - 1).every((d) => d.version < s.version),
      ).toBe(true);
    }
    await c.kill('SIGTERM');
  });
});
