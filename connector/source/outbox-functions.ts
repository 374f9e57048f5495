/**
 * The SQL helpers of the outbox, installed in the source database by `sluice setup outbox`:
 * `sluice.emit(type, key, payload)` emits a domain event and `sluice.set_context(context)` the
 * application context, each one `pg_logical_emit_message(true, …)` in the caller's transaction.
 * Nothing else is created: no table, no trigger (docs/events.md).
 */
import type { SqlClient } from './sql-connection.js';
import { CONTEXT_PREFIX, OUTBOX_PREFIX } from '../../schemas/outbox.js';

/** The DDL, idempotent (CREATE OR REPLACE). Printed by `sluice setup outbox --print`. */
export const OUTBOX_SQL = `CREATE SCHEMA IF NOT EXISTS sluice;

-- A domain event, published on <prefix>.events.<type> when the calling transaction commits.
CREATE OR REPLACE FUNCTION sluice.emit(type text, key text, payload jsonb)
RETURNS pg_lsn LANGUAGE sql VOLATILE AS $$
  SELECT pg_logical_emit_message(true, '${OUTBOX_PREFIX}',
    jsonb_build_object('type', type, 'key', key, 'payload', payload)::text)
$$;

-- The application context (user, request, trace id) of the calling transaction's events.
CREATE OR REPLACE FUNCTION sluice.set_context(context jsonb)
RETURNS pg_lsn LANGUAGE sql VOLATILE AS $$
  SELECT pg_logical_emit_message(true, '${CONTEXT_PREFIX}', context::text)
$$;

GRANT USAGE ON SCHEMA sluice TO PUBLIC;
GRANT EXECUTE ON FUNCTION sluice.emit(text, text, jsonb), sluice.set_context(jsonb) TO PUBLIC;
`;

/** Installs the helpers (one transaction). */
export async function installOutboxFunctions(c: SqlClient): Promise<void> {
  await c.query('BEGIN');
  try {
    await c.query(OUTBOX_SQL);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
