/**
 * The SQL (non-replication) connection to the source database: setup, checks, catalog lookups,
 * snapshots, verification and status all read through one made here, with the session settings the
 * type mapping needs and values read as PostgreSQL's text.
 */
import pg from 'pg';
import { SESSION_OPTIONS } from './replication-stream.js';
import { explainPgError, sourceClientConfig } from './pg-connect.js';
import { RAW_TEXT_TYPES } from './row-reader.js';

/** Opens a normal (non-replication) connection with the session settings the type mapping needs. */
export async function connectSql(url: string, applicationName = 'sluice'): Promise<pg.Client> {
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
