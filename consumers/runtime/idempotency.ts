/**
 * Helpers that keep handlers correct under redelivery (at-least-once delivery):
 *
 * - state: apply a change only if its `version` is newer than the one held (`isNewer`,
 *   `upsertIfNewer` for a PostgreSQL table), so a replayed or redelivered event changes nothing;
 * - side effects (an e-mail, a call to another system): `ctx.once(id, fn)` remembers the ids done
 *   in a KV bucket whose entries expire (see ProcessedIds).
 */
import { createHash } from 'node:crypto';
import { prefixedName } from '../../schemas/subjects.js';
import { expiringEntries, type ExpiringEntries, type JetStreamClient } from './jetstream-client.js';

/** True when `version` is newer than `held` (none held counts as older). Versions compare as strings. */
export function isNewer(version: string, held: string | null | undefined): boolean {
  return held === null || held === undefined || held < version;
}

/** Anything with pg's `query(text, params)`: a pg Client, Pool or PoolClient. */
export interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rowCount: number | null }>;
}

/** The statement of {@link upsertIfNewer}, for a table and column names (exported for tests). */
export function upsertIfNewerSql(
  table: string,
  keyColumns: readonly string[],
  columns: readonly string[],
  versionColumn = 'version',
): string {
  const all = [
    ...keyColumns,
    ...columns.filter((c) => !keyColumns.includes(c) && c !== versionColumn),
    versionColumn,
  ];
  const set = all.filter((c) => !keyColumns.includes(c)).map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`);
  return (
    `INSERT INTO ${table.split('.').map(ident).join('.')} (${all.map(ident).join(', ')}) ` +
    `VALUES (${all.map((_, i) => `$${i + 1}`).join(', ')}) ` +
    `ON CONFLICT (${keyColumns.map(ident).join(', ')}) DO UPDATE SET ${set.join(', ')} ` +
    `WHERE ${table.split('.').map(ident).join('.')}.${ident(versionColumn)} COLLATE "C" < EXCLUDED.${ident(versionColumn)}`
  );
}

/**
 * Writes `row` (key columns included) with `version` into `table` unless the table already holds
 * this key at the same or a newer version. Returns whether it wrote. Keep deletes as rows
 * (a `deleted` column) so an older event cannot bring a deleted row back.
 */
export async function upsertIfNewer(
  db: Queryable,
  table: string,
  key: Record<string, unknown>,
  row: Record<string, unknown>,
  version: string,
  versionColumn = 'version',
): Promise<boolean> {
  const keyColumns = Object.keys(key);
  const columns = Object.keys(row).filter((c) => !(c in key) && c !== versionColumn);
  const values = [...keyColumns.map((k) => key[k]), ...columns.map((c) => row[c]), version];
  const r = await db.query(upsertIfNewerSql(table, keyColumns, columns, versionColumn), values.map(param));
  return (r.rowCount ?? 0) > 0;
}

function param(v: unknown): unknown {
  return v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Default: how long a processed id is remembered. 7 days, the deltas stream's default age. */
export const PROCESSED_TTL_MS = 7 * 24 * 3600_000;

/**
 * Ids whose side effect is done, per consumer, in the KV bucket `<P>_PROCESSED` (entries expire
 * after `ttlMs`). `once(id, fn)` runs `fn` unless `id` is recorded, and records it after `fn`
 * succeeded: a redelivery after that skips it. A crash between `fn` and the record repeats `fn`
 * once more (the side effect itself is outside any transaction) — the usual at-least-once window,
 * now milliseconds wide instead of the whole retry history.
 */
export class ProcessedIds {
  readonly #entries: ExpiringEntries;
  readonly #consumer: string;

  private constructor(entries: ExpiringEntries, consumer: string) {
    this.#entries = entries;
    this.#consumer = consumer;
  }

  static async open(
    client: JetStreamClient,
    prefix: string,
    consumer: string,
    ttlMs = PROCESSED_TTL_MS,
  ): Promise<ProcessedIds> {
    const bucket = prefixedName(prefix, 'PROCESSED');
    return new ProcessedIds(await expiringEntries(client, bucket, ttlMs), consumer);
  }

  #key(id: string): string {
    // KV keys allow only [-/_=.a-zA-Z0-9]: ids (CloudEvents ids contain ':') are hashed.
    return `${this.#consumer}.${createHash('sha256').update(id).digest('base64url')}`;
  }

  async has(id: string): Promise<boolean> {
    return (await this.#entries.get(this.#key(id))) !== null;
  }

  /** Runs `fn` unless `id` was done; returns whether it ran. */
  async once(id: string, fn: () => Promise<void> | void): Promise<boolean> {
    if (await this.has(id)) return false;
    await fn();
    await this.#entries.create(this.#key(id), new Date().toISOString());
    return true;
  }
}
