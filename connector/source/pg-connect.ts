/**
 * Every connection to the source database takes its options here (the SQL connections of
 * sql-connection.ts and the replication connection): the URL with its TLS parameters (`sslmode`,
 * `sslrootcert`, `sslcert`, `sslkey`), checked by connections/pg-connect.ts, and a failed connect
 * explained in one sentence naming the setting to fix.
 */
import type pg from 'pg';
import { explainPgConnectError, PgConnectFailures, pgClientConfig } from '../../connections/pg-connect.js';
import { ErrorCodes, SluiceError } from '../errors.js';

/** How messages name the source database's setting. */
export const DATABASE_URL_SETTING = 'databaseUrl (SLUICE_DATABASE_URL)';

/**
 * The pg options of every connection to the source database (this module's SQL connections and
 * the replication connection): the URL with its TLS parameters, checked; a SluiceError naming the
 * parameter when a file it names cannot be read.
 */
export function sourceClientConfig(url: string, extra: pg.ClientConfig): pg.ClientConfig {
  try {
    return pgClientConfig(url, DATABASE_URL_SETTING, extra);
  } catch (e) {
    throw explainPgError(e, url);
  }
}

/** Turns a pg connection error into a SluiceError with the fix. */
export function explainPgError(e: unknown, url: string): SluiceError | Error {
  const explained = explainPgConnectError(e, url, DATABASE_URL_SETTING);
  if (explained) {
    const code = {
      [PgConnectFailures.config]: ErrorCodes.config,
      [PgConnectFailures.tls]: ErrorCodes.postgresTls,
      [PgConnectFailures.auth]: ErrorCodes.postgresAuth,
    }[explained.code];
    return new SluiceError(code, explained.message, { hint: explained.hint, cause: e });
  }
  const err = e as { code?: string; message?: string };
  let where = 'the database';
  try {
    const u = new URL(url);
    where = `PostgreSQL at ${u.hostname}:${u.port || 5432}`;
  } catch {
    /* keep the generic name */
  }
  if (
    err.code === 'ECONNREFUSED' ||
    err.code === 'ENOTFOUND' ||
    err.code === 'ETIMEDOUT' ||
    err.code === 'EHOSTUNREACH'
  ) {
    return new SluiceError(ErrorCodes.postgresUnreachable, `cannot reach ${where} (${err.code}).`, {
      hint: 'Check SLUICE_DATABASE_URL and that the server is running and accepts TCP connections.',
      cause: e,
    });
  }
  if (err.code === '3D000') {
    return new SluiceError(ErrorCodes.postgresUnreachable, `${err.message} on ${where}.`, {
      hint: 'Check the database name in SLUICE_DATABASE_URL.',
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(String(e));
}
