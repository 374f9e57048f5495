/**
 * The initial snapshot under writes and crashes: rows updated while their chunk is between its
 * watermarks, and kill -9 of the connector in the middle of a table's snapshot (it resumes from the
 * last completed chunk). Afterwards the facts equal the table, every change has exactly one delta,
 * and no snapshot fact is older than a change of its row.
 */
import { setTimeout as pause } from 'node:timers/promises';
import { Kvm } from '@nats-io/kv';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { requestSnapshot, snapshotBucketName } from '../../connector/sink/snapshot-store.js';
import { startEnv, liveFacts, type ChildConnector, type SluiceEnv } from './env.js';
import {
  auditCounts,
  checkStreams,
  explained,
  factDifferences,
  faultDelay,
  installAudit,
  phases,
  prng,
  tail,
  waitCaughtUp,
  waitSnapshotsDone,
  waitStreaming,
} from './faults-helpers.js';

/** Loops of single-statement writes, paced to about `perSec` statements a second in all. */
function startWriters(
  env: SluiceEnv,
  loops: number,
  perSec: number,
  op: (rand: () => number) => [string, unknown[]],
  seed: number,
): { stop(): Promise<number> } {
  let stopped = false;
  let n = 0;
  const rand = prng(seed);
  const loop = async () => {
    while (!stopped) {
      const [sql, params] = op(rand);
      await env.sql(sql, params);
      n++;
      await pause((1000 * loops) / perSec);
    }
  };
  const runs = Array.from({ length: loops }, () => loop());
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(runs);
      return n;
    },
  };
}

/** Updates (70 %), inserts (15 %) and deletes (15 %) of accounts, about 300 a second. */
function startAccountWriters(env: SluiceEnv, seed: number): { stop(): Promise<number> } {
  let nextId = 100_000;
  return startWriters(
    env,
    2,
    300,
    (rand) => {
      const r = rand();
      const id = 1 + Math.floor(rand() * 30_000);
      if (r < 0.7) {
        return [
          `UPDATE public.accounts SET balance = balance + 1, note = md5(random()::text), updated_at = now() WHERE id = $1`,
          [id],
        ];
      }
      if (r < 0.85)
        return [`INSERT INTO public.accounts (id, balance, note) VALUES ($1, 0, 'new')`, [nextId++]];
      return [`DELETE FROM public.accounts WHERE id = $1`, [id]];
    },
    seed,
  );
}

describe('faults: snapshot', () => {
  it("a row whose TOASTed column an update leaves unchanged between its chunk's watermarks keeps that column", async () => {
    const t = phases();
    const env = await startEnv();
    const locker = new pg.Client({ connectionString: env.dbUrl });
    try {
      // body is stored out of line (EXTERNAL, over 2 kB): an update of title sends it as "unchanged TOAST".
      await env.sql(`
        CREATE TABLE public.docs (id int PRIMARY KEY, title text NOT NULL, body text NOT NULL);
        ALTER TABLE public.docs ALTER COLUMN body SET STORAGE EXTERNAL;
        INSERT INTO public.docs SELECT g, 'doc ' || g, repeat(md5(g::text), 100) FROM generate_series(1, 3) g;
        ANALYZE public.docs;
      `);
      // No initial snapshot: the table is backfilled on request below (what `sluice snapshot` does).
      const c = env.spawnConnector({ SLUICE_TABLES: 'public.docs', SLUICE_SNAPSHOT: 'never' });
      await waitStreaming(c);
      await locker.connect();
      // Hold the table so that the chunk's SELECT waits after its low watermark; the update committed
      // meanwhile lands between the low and the high watermark, deterministically.
      await locker.query(`BEGIN; LOCK TABLE public.docs IN ACCESS EXCLUSIVE MODE`);
      await requestSnapshot(await new Kvm(env.nc).open(snapshotBucketName('cdc')), ['public.docs']);
      const waiting = await explained(env, c, () =>
        eventually(
          async () => {
            const r = await env.sql<{ query: string }>(
              `SELECT query FROM pg_stat_activity WHERE application_name = 'sluice-snapshot' AND wait_event_type = 'Lock'`,
            );
            return r.rows[0]?.query ?? false;
          },
          { timeout: 30_000, message: 'the snapshot chunk to wait for the table lock' },
        ),
      );
      // (ANALYZE above spares the row count that would otherwise wait first, before any watermark.)
      expect(waiting, 'the statement waiting is the chunk SELECT').toMatch(/ORDER BY .* LIMIT/);
      await locker.query(`UPDATE public.docs SET title = 'changed during the chunk' WHERE id = 1`);
      await locker.query('COMMIT');
      await explained(env, c, () => waitSnapshotsDone(env));
      await explained(env, c, () => waitCaughtUp(env));
      t.mark('backfill with an update in the chunk');
      const summary = await checkStreams(env);
      const diffs = await factDifferences(env, liveFacts(summary.facts), ['docs']);
      console.log(`faults-snapshot TOAST: ${diffs.length} rows differ; ${t}`);
      expect(diffs, 'facts equal the table').toEqual([]);
      await c.kill('SIGTERM');
    } finally {
      await locker.end().catch(() => undefined);
      await env.close();
    }
  }, 120_000);

  it('kill -9 in the middle of a snapshot under writes: it resumes, nothing lost or duplicated', async () => {
    const t = phases();
    const env = await startEnv();
    const SEED = 4242;
    try {
      await env.sql(`
        CREATE TABLE public.accounts (
          id bigint PRIMARY KEY, balance numeric(12, 2) NOT NULL, note text, updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO public.accounts (id, balance, note) SELECT g, g / 100.0, md5(g::text) FROM generate_series(1, 30000) g;
      `);
      await installAudit(env, ['accounts']);
      // Slow enough (about 8 s for the table) that the kills land in the middle of it.
      const extra = {
        SLUICE_TABLES: 'public.accounts',
        SLUICE_SNAPSHOT_CHUNK_SIZE: '500',
        SLUICE_SNAPSHOT_RATE_LIMIT: '4000',
      };
      const rand = prng(SEED);
      const outputs: string[] = [];
      const moments: number[] = [];
      let writers: { stop(): Promise<number> } | null = null;
      for (let i = 0; i < 4; i++) {
        const c = env.spawnConnector(extra);
        await waitStreaming(c);
        // Writes start once the slot exists: from then on every change must become a delta.
        writers ??= startAccountWriters(env, SEED);
        const delay = 500 + Math.floor(rand() * 1000);
        moments.push(delay);
        await faultDelay(delay);
        expect(c.child.exitCode, `the connector exited by itself:\n${tail(c.output())}`).toBeNull();
        await c.kill('SIGKILL');
        outputs.push(c.output());
      }
      t.mark('kills');
      const c: ChildConnector = env.spawnConnector(extra);
      await waitStreaming(c);
      await explained(env, c, () => waitSnapshotsDone(env));
      const writes = await writers!.stop();
      await explained(env, c, () => waitCaughtUp(env));
      t.mark('snapshot and catch-up');
      outputs.push(c.output());

      // Later runs resumed after a completed chunk instead of starting the table again.
      const resumed = outputs
        .join('\n')
        .split('\n')
        .filter((l) => /"msg":"snapshot running"/.test(l) && !/"resumeAfter":null/.test(l));
      expect(resumed.length, 'snapshot runs that resumed after a completed chunk').toBeGreaterThan(0);

      const summary = await checkStreams(env);
      expect(
        await factDifferences(env, liveFacts(summary.facts), ['accounts']),
        'facts equal the table',
      ).toEqual([]);
      expect(summary.changesByTableOp, 'one delta per committed row change').toEqual(await auditCounts(env));
      const snapshotFacts = summary.facts.filter(
        (m) => (m.data as { data: { op: string } }).data.op === 'snapshot',
      );
      t.mark('checks');
      console.log(
        `faults-snapshot kill: kills after ${moments.join(', ')} ms; ${resumed.length} resumed runs; ${writes} writes; ` +
          `${summary.changeDeltas} change deltas; ${snapshotFacts.length} snapshot facts still latest; ${t}`,
      );
      await c.kill('SIGTERM');
    } finally {
      await env.close();
    }
  }, 150_000);
});
