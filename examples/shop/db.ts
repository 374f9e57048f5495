import pg from 'pg';

/** The part of a pg client or pool the shop needs: run one query. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

/**
 * Connects one client. A client whose server goes away emits 'error' outside any query; without a
 * listener Node would crash the process, so the error is recorded and surfaces on the next query.
 */
export async function openClient(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => {
    // The failed connection is reported by the next query on it; nothing to do here.
  });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot connect to ${redactUrl(url)}: ${(error as Error).message}`, { cause: error });
  }
  return client;
}

/** Runs `fn` with `db` itself, or with a short-lived client when `db` is a connection URL. */
export async function withDb<T>(db: string | Queryable, fn: (q: Queryable) => Promise<T>): Promise<T> {
  if (typeof db !== 'string') return fn(db);
  const client = await openClient(db, 'sluice-shop');
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `url` with any password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable database URL>';
  }
}
