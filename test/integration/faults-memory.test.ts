/**
 * One transaction of 1,000,000 inserted rows streams through `sluice run` with flat memory: the
 * connector's RSS stays below 300 MB while every row arrives as a fact and a delta, plus one tx
 * marker. Counted from the streams' state (messages, subjects), not by reading 2 million messages.
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv } from './env.js';
import {
  exitSignal,
  explained,
  phases,
  RssSampler,
  spawnStreaming,
  streamInfo,
  tail,
  waitCaughtUp,
} from './faults-helpers.js';

const ROWS = 1_000_000;
const RSS_LIMIT_MB = 300;

describe('faults: memory', () => {
  it(`streams a single transaction of ${ROWS} rows with RSS below ${RSS_LIMIT_MB} MB`, async () => {
    const t = phases();
    const env = await startEnv();
    try {
      await env.sql(`CREATE TABLE public.big (id int PRIMARY KEY, pad text NOT NULL)`);
      // Memory and speed as a user runs it: without the per-event contract check of the tests.
      const c = await spawnStreaming(
        env,
        { SLUICE_TABLES: 'public.big', SLUICE_VALIDATE_EVENTS: 'off' },
        { compiled: true },
      );
      const rss = new RssSampler(c.child.pid!, 500);
      t.mark('setup');
      try {
        const idle = rss.peak();
        await env.sql(`INSERT INTO public.big SELECT g, repeat('x', 100) FROM generate_series(1, ${ROWS}) g`);
        const committed = Date.now();
        t.mark('insert');

        let lastLog = 0;
        const progress: string[] = [];
        const counts = await explained(env, c, () =>
          eventually(
            async () => {
              const [d, f] = await Promise.all([streamInfo(env, 'deltas'), streamInfo(env, 'facts')]);
              if (Date.now() - lastLog > 10_000) {
                lastLog = Date.now();
                progress.push(
                  `${Math.round((Date.now() - committed) / 1000)} s: ${d.messages} deltas, ${f.subjects} facts`,
                );
              }
              if (d.messages < ROWS + 2 || f.subjects < ROWS) {
                throw new Error(`${d.messages} deltas, ${f.subjects} fact subjects`);
              }
              return { deltas: d, facts: f };
            },
            {
              timeout: 400_000,
              interval: 1000,
              message: `${ROWS} facts and deltas`,
              signal: exitSignal(c),
            },
          ),
        );
        const streamedMs = Date.now() - committed;
        t.mark('stream');
        await explained(env, c, () => waitCaughtUp(env));
        t.mark('catch-up');
        const peak = rss.peak();
        console.log(
          `faults-memory: ${ROWS} rows in one transaction reached the streams ${(streamedMs / 1000).toFixed(1)} s ` +
            `after the commit (${Math.round((2 * ROWS) / (streamedMs / 1000))} messages/s); connector RSS idle ` +
            `${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB; progress: ${progress.join('; ')}; ${t}`,
        );
        // Exactly the rows, once: one delta per row plus the commit marker and the table's first
        // schema event (and the position heartbeats published while the table was idle), one fact
        // subject per row.
        const deltas = await streamInfo(env, 'deltas', 'cdc.heartbeat'); // one reading: total and heartbeats
        expect(deltas.messages - deltas.matching).toBe(ROWS + 2);
        expect((await streamInfo(env, 'deltas', 'cdc.schema.>')).matching).toBe(1);
        expect(counts.facts.subjects).toBe(ROWS);
        expect(counts.facts.messages).toBe(ROWS);
        expect((await streamInfo(env, 'deltas', 'cdc.tx.>')).matching).toBe(1);
        expect(peak, `connector RSS peak ${peak} MB`).toBeLessThan(RSS_LIMIT_MB);
        expect(c.child.exitCode, tail(c.output())).toBeNull();
        await c.kill('SIGTERM');
      } finally {
        rss.stop();
      }
    } finally {
      await env.close();
    }
  }, 480_000);
});
