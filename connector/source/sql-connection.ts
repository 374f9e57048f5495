/**
 * The SQL (non-replication) connection to the source database: setup, checks, catalog lookups,
 * snapshots, verification and status all read through one made here, with the session settings the
 * type mapping needs and values read as PostgreSQL's text.
 *
 * `pg` is wrapped here once: every other connector module sees a {@link SqlClient}, the part of
 * the client the connector uses, so it can be tested with plain data (a `pg.Client` or `pg.Pool`
 * satisfies it). Only this module, `replication-stream.ts` and `pg-connect.ts` import `pg`.
 */
import pg from 'pg';
import { SESSION_OPTIONS } from './replication-stream.js';
import { explainPgError, sourceClientConfig } from './pg-connect.js';

/**
 * The result of a statement: its rows, and how many rows the command touched (null when unknown).
 * Rows are `any` by default, as the driver's are: the callers read columns by name and convert them.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface SqlResult<R = any> {
  rows: R[];
  rowCount: number | null;
}

/** A statement whose rows come back as arrays of the server's text (see `row-reader.ts`). */
export interface RawTextQuery {
  text: string;
  values: unknown[];
  rowMode: 'array';
  types: typeof RAW_TEXT_TYPES;
}

/** A SQL connection to the source database, as the connector uses it. */
export interface SqlClient {
  /** Runs one statement with positional parameters (`$1`…); rows as objects by column name. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends Record<string, any> = any>(text: string, values?: unknown[]): Promise<SqlResult<R>>;
  /** Runs one statement with rows as arrays of the server's text (`readRawRows`). */
  query(query: RawTextQuery): Promise<SqlResult>;
  /** Closes the connection. */
  end(): Promise<void>;
}

/** pg query types that leave every value as the server's text (no Date, number or boolean parsing). */
export const RAW_TEXT_TYPES = {
  getTypeParser: () => (value: string) => value,
} as unknown as pg.CustomTypesConfig;

/** Opens a normal (non-replication) connection with the session settings the type mapping needs. */
export async function connectSql(url: string, applicationName = 'sluice'): Promise<SqlClient> {
  const client = new pg.Client(
    sourceClientConfig(url, {
      application_name: applicationName,
      options: SESSION_OPTIONS,
      // Values are read as PostgreSQL's text: the lossless mapping works on text, never on pg's parsers.
      types: RAW_TEXT_TYPES,
    }),
  );
  client.on('error', () => {
    /* surfaced by the next query */
  });
  try {
    await client.connect();
  } catch (e) {
    throw explainPgError(e, url);
  }
  return client;
}
