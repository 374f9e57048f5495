/**
 * PostgreSQL write rate: the most single-row UPDATEs per second pgbench sustains on this machine
 * (8 clients, 2 threads, prepared statements, one random row of bench_orders per transaction), on
 * a table nothing captures. Scenario 2 runs the same load on a captured table.
 */
import { CREATE_BENCH_TABLE, insertRowsOneTx, pgbenchUpdateScript } from '../support/bench-table.js';
import { pgClient } from '../support/bench-env.js';
import type { BenchContext, LimitResult } from '../support/figures.js';
import { runPgbench } from '../support/pgbench.js';

const DB = 'bench_write';

/** Rows of the table pgbench updates (here and in scenario 2); small enough for the connector's row cache. */
export const PGBENCH_ROWS = 20_000;
export const PGBENCH_CLIENTS = 8;
export const PGBENCH_THREADS = 2;

export async function measurePostgresWrite(ctx: BenchContext): Promise<LimitResult> {
  const { env } = ctx;
  const seconds = ctx.quick ? 5 : 15;
  const url = await env.createDatabase(DB);
  try {
    const db = await pgClient(url);
    try {
      await db.query(CREATE_BENCH_TABLE);
      await insertRowsOneTx(db, 1, PGBENCH_ROWS);
      await db.query('VACUUM ANALYZE public.bench_orders');
      await db.query('CHECKPOINT');
    } finally {
      await db.end();
    }
    const r = await runPgbench(env.pg, {
      database: DB,
      script: pgbenchUpdateScript(PGBENCH_ROWS),
      clients: PGBENCH_CLIENTS,
      threads: PGBENCH_THREADS,
      seconds,
    });
    ctx.log(`  pgbench: ${Math.round(r.tps)} tps (${r.transactions} transactions in ${seconds} s)`);
    return {
      name: 'postgres-write-rate',
      title: 'PostgreSQL write rate (pgbench single-row UPDATEs)',
      value: r.tps,
      unit: 'tps',
      note: `${PGBENCH_CLIENTS} clients, ${PGBENCH_ROWS} rows, -T ${seconds}, not captured`,
      details: { transactions: r.transactions, failed: r.failed, seconds, clients: PGBENCH_CLIENTS },
    };
  } finally {
    await env.dropDatabase(DB);
  }
}
