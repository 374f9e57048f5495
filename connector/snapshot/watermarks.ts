/**
 * The watermarks of DBLog's chunk window: transactional logical decoding messages
 * (`pg_logical_emit_message`, https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-REPLICATION)
 * with the prefix {@link WATERMARK_PREFIX} and the JSON `{"chunk": <id>, "w": "low" | "high"}`.
 * The replication stream delivers them in commit order with the changes (snapshotter.ts).
 */
import type { SqlClient } from '../source/sql-connection.js';

/** Prefix of Sluice's logical decoding messages. */
export const WATERMARK_PREFIX = 'sluice-watermark';

/** A watermark's content, as written by {@link emitWatermark} (read unchecked: fields may be absent). */
export interface Watermark {
  chunk?: string;
  w?: string;
}

/** Writes the low or high watermark of a chunk into the WAL. */
export async function emitWatermark(sql: SqlClient, chunk: string, w: 'low' | 'high'): Promise<void> {
  await sql.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [
    WATERMARK_PREFIX,
    JSON.stringify({ chunk, w } satisfies Watermark),
  ]);
}
