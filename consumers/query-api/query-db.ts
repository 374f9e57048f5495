/**
 * The read database as the query API reads it: a connection pool whose sessions print values the
 * way docs/type-mapping.md expects (UTC, ISO dates, shortest exact floats), with the driver's type
 * parsers off so every value arrives as PostgreSQL's text. The only module of the query API that
 * imports `pg`.
 */
import pg from 'pg';
import { pgClientConfig } from '../../connections/pg-connect.js';

/** Session settings the JSON expressions rely on. */
const SESSION_OPTIONS =
  '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex';

/** Every value as text: no parser turns int8 or numeric into a lossy JavaScript number. */
const RAW_TYPES = { getTypeParser: () => (v: string) => v };

/** A row as the driver returns it with the parsers off: column → text or null. */
export type TextRow = Record<string, string | null>;

/** A PostgreSQL error's SQLSTATE and message, when `e` is one. */
export function pgErrorOf(e: unknown): { code: string; message: string } | null {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    const code = (e as { code: string }).code;
    if (/^[0-9A-Z]{5}$/.test(code)) return { code, message: String((e as { message?: unknown }).message) };
  }
  return null;
}

export class QueryDb {
  readonly #pool: pg.Pool;

  constructor(url: string, applicationName: string, max = 8) {
    this.#pool = new pg.Pool({
      ...pgClientConfig(url, 'readDatabaseUrl (SLUICE_READ_DATABASE_URL)', {
        application_name: applicationName,
        options: SESSION_OPTIONS,
      }),
      max,
    });
    this.#pool.on('error', () => undefined);
  }

  /** Runs one statement (one snapshot) and returns its rows as text. */
  async query(text: string, params: unknown[] = []): Promise<TextRow[]> {
    const r = await this.#pool.query<TextRow>({ text, values: params, types: RAW_TYPES });
    return r.rows;
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
