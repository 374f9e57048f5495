/**
 * The bench's row shape: `public.bench_orders`, a shop-like order row of about 300 bytes (ten
 * columns: bigint key, text, numeric, char(3), two timestamptz), filled by generate_series so a
 * million rows take seconds, not minutes. Every scenario and limit that needs rows uses it, so the
 * figures describe the same events.
 */
import type pg from 'pg';

export const BENCH_TABLE = 'public.bench_orders';

export const CREATE_BENCH_TABLE = `
CREATE TABLE IF NOT EXISTS public.bench_orders (
  id bigint PRIMARY KEY,
  customer_id bigint NOT NULL,
  status text NOT NULL,
  total numeric(12, 2) NOT NULL,
  currency char(3) NOT NULL,
  email text NOT NULL,
  ship_to text NOT NULL,
  note text NOT NULL,
  placed_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
)`;

/** SELECT list producing row `g` (a bigint expression) of the bench table. */
const ROW = `g, 1 + (g * 7919) % 100000,
  (ARRAY['pending', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + (g % 5)::int],
  round(((g * 37) % 100000) / 100.0 + 5, 2), 'EUR',
  'customer' || ((g * 7919) % 100000) || '@example.com',
  (g % 997) || ' Market Street, Springfield, ' || (ARRAY['US', 'DE', 'FR', 'GB', 'NL'])[1 + (g % 5)::int],
  md5(g::text) || ' gift wrap, leave at the door please',
  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', clock_timestamp()`;

function int(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${name}: expected a non-negative integer, got ${v}`);
  return v;
}

/** Inserts rows `first..first+count-1` in one transaction (one statement). */
export async function insertRowsOneTx(db: pg.ClientBase, first: number, count: number): Promise<void> {
  const a = int('first', first);
  const b = a + int('count', count) - 1;
  await db.query(
    `INSERT INTO public.bench_orders SELECT ${ROW} FROM generate_series(${a}::int8, ${b}::int8) AS g`,
  );
}

/**
 * Inserts rows `first..first+count-1`, committing every `txSize` rows (a DO block with COMMIT, so
 * thousands of transactions cost one round trip). `count` must be a multiple of `txSize`.
 */
export async function insertRowsBatched(
  db: pg.ClientBase,
  first: number,
  count: number,
  txSize: number,
): Promise<void> {
  int('first', first);
  int('count', count);
  int('txSize', txSize);
  if (count % txSize !== 0) throw new RangeError(`count ${count} is not a multiple of txSize ${txSize}`);
  await db.query(`DO $$
BEGIN
  FOR b IN 0..${count / txSize - 1} LOOP
    INSERT INTO public.bench_orders
      SELECT ${ROW} FROM generate_series(${first}::int8 + b * ${txSize}, ${first}::int8 + b * ${txSize} + ${txSize - 1}) AS g;
    COMMIT;
  END LOOP;
END $$`);
}

/** The pgbench script of the write-rate limit and scenario 2: one random row updated per transaction. */
export function pgbenchUpdateScript(rows: number): string {
  return [
    `\\set id random(1, ${int('rows', rows)})`,
    `UPDATE public.bench_orders SET status = 'paid', total = total + 1, updated_at = now() WHERE id = :id;`,
    '',
  ].join('\n');
}
