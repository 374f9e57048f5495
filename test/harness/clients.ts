import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import type { Client } from 'pg';

/** Runs `fn` with a fresh connected pg client (5 s connect timeout) and always ends it. */
export async function withPgClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A server shutdown while connected emits 'error'; unhandled it would crash the test worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Throws unless PostgreSQL at `url` runs a query. */
export async function pingPostgres(url: string): Promise<void> {
  await withPgClient(url, (c) => c.query('SELECT 1'));
}

/**
 * Runs `fn` with a fresh NATS connection (no reconnects, 2 s timeouts) and always closes it;
 * `options` adds TLS or credentials.
 */
export async function withNats<T>(
  servers: string | string[],
  fn: (nc: NatsConnection) => Promise<T>,
  options: Partial<ConnectionOptions> = {},
): Promise<T> {
  const nc = await connect({
    ...options,
    servers,
    reconnect: false,
    timeout: 2_000,
    name: 'sluice-test-harness',
  });
  try {
    return await fn(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Throws unless the server at `url` accepts a client and its JetStream answers account info. */
export async function pingJetStream(
  url: string | string[],
  options: Partial<ConnectionOptions> = {},
): Promise<void> {
  await withNats(
    url,
    async (nc) => {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await jsm.getAccountInfo();
    },
    options,
  );
}
