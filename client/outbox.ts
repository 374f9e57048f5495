/**
 * Application-side helpers for the outbox and the application context (docs/events.md): each is one
 * `pg_logical_emit_message(true, …)` in the caller's transaction, so the event or context is part of
 * that transaction — published with its rows when it commits, never when it rolls back. Nothing has
 * to be installed in the database for these (`sluice setup outbox` installs the same as SQL
 * functions for code that is not TypeScript).
 */
import { CONTEXT_PREFIX, OUTBOX_PREFIX } from '../schemas/outbox.js';
import type { EventContext } from '../schemas/events.js';

/** A `pg` Client or PoolClient, or anything with the same `query`. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/**
 * Emits a domain event in the client's current transaction: published on `<prefix>.events.<type>`
 * when the transaction commits. Outside a transaction block it is a transaction of its own.
 * `type` is dot-separated `[A-Za-z0-9_-]` tokens (`order.placed`); `payload` any JSON value.
 */
export async function emit(client: Queryable, type: string, key: string, payload: unknown): Promise<void> {
  await client.query("SELECT pg_logical_emit_message(true, '" + OUTBOX_PREFIX + "', $1::text)", [
    JSON.stringify({ type, key, payload }),
  ]);
}

/**
 * Sets the context of the client's current transaction: every fact, delta and domain event written
 * after it in the transaction carries it as `data.context`. A later call replaces it. Keep it small
 * (ids: user, request, trace; at most 8 KiB).
 */
export async function setContext(client: Queryable, context: EventContext): Promise<void> {
  await client.query("SELECT pg_logical_emit_message(true, '" + CONTEXT_PREFIX + "', $1::text)", [
    JSON.stringify(context),
  ]);
}

/**
 * Runs `fn` in a transaction that carries `context`: BEGIN, the context, `fn(client)`, COMMIT (or
 * ROLLBACK when `fn` throws, and the error is rethrown). The client must not be in a transaction
 * already; inside one, call `setContext` instead. Returns what `fn` returns.
 */
export async function withContext<C extends Queryable, T>(
  client: C,
  context: EventContext,
  fn: (client: C) => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    await setContext(client, context);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
