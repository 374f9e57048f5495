/**
 * The one way Sluice builds a PostgreSQL connection: every `pg` client and pool (the connector's
 * SQL and replication connections, every command, the read models, the query API) takes its
 * options from {@link pgClientConfig}, and a failed connection is explained by
 * {@link explainPgConnectError}.
 *
 * TLS is configured in the URL, as with libpq: `sslmode`, `sslrootcert`, `sslcert`, `sslkey`
 * (read by pg's own URL parser, so the replication connection honours them too). Note that pg
 * treats `sslmode=require|prefer|verify-ca` as `verify-full` unless the URL also says
 * `uselibpqcompat=true`; see docs/security.md.
 */
import { accessSync, constants } from 'node:fs';
import type pg from 'pg';
import { clientCertificateRejected, serverCertificateFailure } from './tls-errors.js';

/** Why a connection to PostgreSQL failed, for the errors a user can fix. */
export const PgConnectFailures = {
  /** A file named in the URL cannot be read. */
  config: 'SLUICE_CONFIG',
  /** TLS failed: the server's certificate is not trusted, the server has no TLS, or ours was refused. */
  tls: 'PG_TLS',
  /** The server refused the role, password or client certificate (SQLSTATE 28000, 28P01). */
  auth: 'PG_AUTH',
} as const;
export type PgConnectFailure = (typeof PgConnectFailures)[keyof typeof PgConnectFailures];

/**
 * A PostgreSQL connection problem a user can fix: one sentence, and a hint naming the setting; the
 * codes are the connector's error codes of the same meaning.
 */
export class PgConnectError extends Error {
  readonly code: PgConnectFailure;
  readonly hint: string;
  constructor(code: PgConnectFailure, message: string, hint: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PgConnectError';
    this.code = code;
    this.hint = hint;
  }
}

/** How the caller names the URL's setting in messages, e.g. `databaseUrl (SLUICE_DATABASE_URL)`. */
export type SettingName = string;

const FILE_PARAMETERS = ['sslrootcert', 'sslcert', 'sslkey'] as const;

/**
 * The pg client options for `url` (with `extra` options such as `application_name`, `replication`,
 * `types`). The TLS files the URL names are checked now, so that a wrong path is a
 * {@link PgConnectError} naming the parameter instead of pg's bare ENOENT.
 */
export function pgClientConfig(
  url: string,
  setting: SettingName,
  extra: pg.ClientConfig = {},
): pg.ClientConfig {
  let params: URLSearchParams | undefined;
  try {
    params = new URL(url).searchParams;
  } catch {
    /* pg reports a malformed URL itself */
  }
  for (const p of FILE_PARAMETERS) {
    const path = params?.get(p);
    if (!path) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (cause) {
      throw new PgConnectError(
        PgConnectFailures.config,
        `${p} in ${setting} names ${path}, which cannot be read (${(cause as { code?: string }).code ?? 'error'}).`,
        `Check the ${p} parameter of ${setting}.`,
        cause,
      );
    }
  }
  return { ...extra, connectionString: url };
}

/**
 * A connect failure explained (TLS, authentication), or undefined when it is none of those (the
 * caller explains unreachable servers and missing databases its own way).
 */
export function explainPgConnectError(
  e: unknown,
  url: string,
  setting: SettingName,
): PgConnectError | undefined {
  if (e instanceof PgConnectError) return e;
  let where = 'PostgreSQL';
  let params = new URLSearchParams();
  try {
    const u = new URL(url);
    where = `PostgreSQL at ${u.hostname}:${u.port || 5432}`;
    params = u.searchParams;
  } catch {
    /* keep the generic name */
  }
  const err = (e ?? {}) as { code?: unknown; message?: unknown };
  const untrusted = serverCertificateFailure(e);
  if (untrusted) {
    const ca = params.get('sslrootcert');
    return new PgConnectError(
      PgConnectFailures.tls,
      `the TLS certificate of ${where} is not trusted (${untrusted.code}).`,
      ca
        ? `Set sslrootcert in ${setting} to the CA that signed the server's certificate (now ${ca}).`
        : `Add sslrootcert=<CA file> to ${setting} (the CA that signed the server's certificate).`,
      e,
    );
  }
  const refused = clientCertificateRejected(e);
  if (refused) {
    return new PgConnectError(
      PgConnectFailures.tls,
      `${where} refused the TLS client certificate (${refused.code}).`,
      `Check sslcert and sslkey in ${setting}: the certificate must be signed by the server's ssl_ca_file.`,
      e,
    );
  }
  // pg's own fixed text when the server answers the SSLRequest with 'N'.
  if (err.message === 'The server does not support SSL connections') {
    return new PgConnectError(
      PgConnectFailures.tls,
      `${where} does not accept TLS connections (ssl = off on the server).`,
      `Turn ssl on in postgresql.conf, or remove sslmode from ${setting}.`,
      e,
    );
  }
  if (err.code === '28P01' || err.code === '28000') {
    const tlsParams = ['sslcert', 'sslkey', 'sslmode'].filter((p) => params.has(p));
    return new PgConnectError(
      PgConnectFailures.auth,
      `${where} rejected the credentials: ${String(err.message)}.`,
      err.code === '28P01'
        ? `Check the user and password in ${setting}.`
        : `Check the user${tlsParams.length ? `, ${tlsParams.join(', ')}` : ''} in ${setting} against pg_hba.conf (replication connections need their own "replication" line).`,
      e,
    );
  }
  return undefined;
}
