/**
 * The read database, behind one small class: one connection, plain queries and transactions, and a
 * session advisory lock that makes one process the writer. The only module of the read models that
 * imports `pg`.
 */
import pg from 'pg';
import { explainPgConnectError, pgClientConfig } from '../../connections/pg-connect.js';
import { ReadModelError, ReadModelErrorCodes } from './errors.js';

const READ_DATABASE_URL = 'readDatabaseUrl (SLUICE_READ_DATABASE_URL)';

/** Runs one statement and returns its rows. */
export type Sql = <R = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

export class ReadDb {
  readonly #client: pg.Client;
  #closed = false;

  private constructor(client: pg.Client) {
    this.#client = client;
  }

  static async connect(url: string, applicationName: string): Promise<ReadDb> {
    // TLS from the URL's sslmode/sslrootcert/sslcert/sslkey, as for every Sluice connection.
    const client = new pg.Client(
      pgClientConfig(url, READ_DATABASE_URL, { application_name: applicationName }),
    );
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (cause) {
      const explained = explainPgConnectError(cause, url, READ_DATABASE_URL);
      if (explained) throw explained;
      throw new ReadModelError(
        ReadModelErrorCodes.readDatabase,
        `the read database cannot be reached: ${(cause as Error).message}.`,
        { hint: 'Check readDatabaseUrl (SLUICE_READ_DATABASE_URL) and that the database exists.', cause },
      );
    }
    return new ReadDb(client);
  }

  readonly query: Sql = async <R>(text: string, params?: unknown[]) =>
    (await this.#client.query(text, params)).rows as R[];

  /** Runs `fn` in one transaction; rolls back when it throws. */
  async transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    await this.#client.query('BEGIN');
    try {
      const r = await fn(this.query);
      await this.#client.query('COMMIT');
      return r;
    } catch (e) {
      await this.#client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }

  /** Takes a session advisory lock without waiting; false when another session holds it. */
  async tryLock(key: number): Promise<boolean> {
    const r = await this.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
    return r[0]!.ok;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.end().catch(() => undefined);
  }
}
