/**
 * Reads table rows as the text each type's output function prints: exactly what pgoutput sends
 * for the same row state. Every fact built from a read of the database (snapshot chunks, unchanged
 * TOAST values of rows never seen, `sluice verify`) goes through here, so it is byte for byte the
 * fact streaming builds ("one row state, one JSON form", docs/type-mapping.md).
 *
 * Two things make it so:
 *  - The query selects the columns themselves, never `col::text`: a cast to text uses the type's
 *    own cast where one exists, not its output function (`true::text` is `true` where bool prints
 *    `t`, `char(n)::text` drops the padding, `inet::text` adds `/32`). Results come in pg's text
 *    format with the driver's type parsers off, so each value is the server's text untouched.
 *  - The session has the replication connection's settings (SESSION_OPTIONS: DateStyle, TimeZone,
 *    IntervalStyle, extra_float_digits, bytea_output, lc_monetary), on which the output functions of
 *    dates, intervals, floats, bytea and money depend. `connectSql` opens such sessions; the first
 *    read on a connection checks them, because a session without them (a pooler that drops startup
 *    options, a client opened elsewhere) would publish a second JSON form without any error.
 */
import { ErrorCodes, SluiceError } from '../errors.js';
import { SESSION_OPTIONS } from './replication-stream.js';
import { RAW_TEXT_TYPES, type SqlClient } from './sql-connection.js';

/** The settings of SESSION_OPTIONS, as `[name, value]` pairs. */
const SESSION_SETTINGS: readonly (readonly [string, string])[] = SESSION_OPTIONS.split(/\s*-c\s+/)
  .filter((s) => s.length > 0)
  .map((s) => {
    const eq = s.indexOf('=');
    return [s.slice(0, eq), s.slice(eq + 1)] as const;
  });

/** Compares setting values as PostgreSQL normalizes them (`ISO,MDY` is shown as `ISO, MDY`). */
const normalize = (v: string): string => v.replace(/\s+/g, '').toLowerCase();

/** Connections whose session settings were checked (the promise of the check, so it runs once). */
const checked = new WeakMap<SqlClient, Promise<void>>();

/**
 * Throws a SluiceError naming the first setting of the session that differs from the replication
 * connection's; runs one query per connection, the first time.
 */
export function checkSessionSettings(sql: SqlClient): Promise<void> {
  let p = checked.get(sql);
  if (p === undefined) {
    p = (async () => {
      const r = await sql.query({
        text: `SELECT ${SESSION_SETTINGS.map((_, i) => `current_setting($${i + 1})`).join(', ')}`,
        values: SESSION_SETTINGS.map(([name]) => name),
        rowMode: 'array',
        types: RAW_TEXT_TYPES,
      });
      const have = r.rows[0] as string[];
      SESSION_SETTINGS.forEach(([name, want], i) => {
        if (normalize(have[i]!) !== normalize(want)) {
          throw new SluiceError(
            ErrorCodes.sessionSettings,
            `the SQL session has ${name} = ${have[i]}, but rows must be read with ${name} = ${want} (what the replication session uses), or their JSON would differ from streamed rows.`,
            {
              hint: 'Open the connection with connectSql (it sets the session options), and connect to PostgreSQL directly rather than through a pooler that drops startup options.',
            },
          );
        }
      });
    })();
    checked.set(sql, p);
    // A failed check (a connection error included) is retried on the next read.
    p.catch(() => checked.delete(sql));
  }
  return p;
}

/**
 * Runs `text` (a SELECT of plain columns, never `::text` casts) and returns its rows as arrays of
 * the output functions' text, null for SQL NULL, in the order of the select list.
 */
export async function readRawRows(
  sql: SqlClient,
  text: string,
  values: readonly unknown[] = [],
): Promise<(string | null)[][]> {
  await checkSessionSettings(sql);
  const r = await sql.query({ text, values: [...values], rowMode: 'array', types: RAW_TEXT_TYPES });
  return r.rows as (string | null)[][];
}
