/**
 * The PostgreSQL side of `defineProjection`: one JSON document per key in
 * `projections.<name>`, and each projection's position in `projections._positions`, written in one
 * transaction per event. The only file of the runtime that imports `pg`.
 */
import pg from 'pg';
import { pgClientConfig } from '../../connections/pg-connect.js';

/** One stored document. */
export interface StoredDocument {
  doc: unknown;
  /** Version of the last event applied per source entity (`schema.table/<key>`). */
  versions: Record<string, string>;
}

/** What applying one event did. */
export type ApplyResult = 'applied' | 'stale';

const SAFE = /^[A-Za-z0-9_-]{1,63}$/;

export class ProjectionStore {
  readonly #pool: pg.Pool;
  readonly #table: string;
  readonly #name: string;
  #ready: Promise<void> | undefined;

  constructor(databaseUrl: string, name: string) {
    if (!SAFE.test(name)) throw new TypeError(`projection name ${name} must be 1–63 of [A-Za-z0-9_-]`);
    this.#pool = new pg.Pool({
      ...pgClientConfig(databaseUrl, `the database URL of projection ${name}`),
      max: 2,
      allowExitOnIdle: true,
    });
    this.#pool.on('error', () => undefined);
    this.#name = name;
    this.#table = `projections."${name}"`;
  }

  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await this.#pool.query(`CREATE SCHEMA IF NOT EXISTS projections`).catch(ignoreRace);
      await this.#pool
        .query(
          `CREATE TABLE IF NOT EXISTS projections._positions (
             name text PRIMARY KEY, stream text NOT NULL, sequence bigint NOT NULL, version text NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now())`,
        )
        .catch(ignoreRace);
      await this.#pool
        .query(
          `CREATE TABLE IF NOT EXISTS ${this.#table} (
             key text PRIMARY KEY, doc jsonb NOT NULL, versions jsonb NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now())`,
        )
        .catch(ignoreRace);
    })();
    return this.#ready;
  }

  /**
   * In one transaction: reads the document of `key` (locked), skips the event when the document
   * already reflects this entity at `version` or later, else stores `evolve`'s result (null
   * deletes the document) with the new entity version, and the projection's position.
   */
  async apply(
    key: string,
    entity: string,
    version: string,
    position: { stream: string; sequence: number },
    evolve: (doc: unknown) => unknown,
  ): Promise<ApplyResult> {
    await this.#init();
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const r = await c.query<{ doc: unknown; versions: Record<string, string> }>(
        `SELECT doc, versions FROM ${this.#table} WHERE key = $1 FOR UPDATE`,
        [key],
      );
      const row = r.rows[0];
      const held = row?.versions[entity];
      if (held !== undefined && held >= version) {
        await c.query('ROLLBACK');
        return 'stale';
      }
      const next = await evolve(row ? row.doc : null);
      const versions = { ...(row?.versions ?? {}), [entity]: version };
      if (next === null || next === undefined) {
        // A deleted document keeps its versions, so an older event cannot bring it back.
        await c.query(
          `INSERT INTO ${this.#table} (key, doc, versions) VALUES ($1, 'null'::jsonb, $2)
           ON CONFLICT (key) DO UPDATE SET doc = 'null'::jsonb, versions = EXCLUDED.versions, updated_at = now()`,
          [key, JSON.stringify(versions)],
        );
      } else {
        await c.query(
          `INSERT INTO ${this.#table} (key, doc, versions) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc, versions = EXCLUDED.versions, updated_at = now()`,
          [key, JSON.stringify(next), JSON.stringify(versions)],
        );
      }
      await c.query(
        `INSERT INTO projections._positions (name, stream, sequence, version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET stream = EXCLUDED.stream, sequence = EXCLUDED.sequence,
           version = EXCLUDED.version, updated_at = now()`,
        [this.#name, position.stream, position.sequence, version],
      );
      await c.query('COMMIT');
      return 'applied';
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/** Two processes creating the same schema or table at once: the loser's error is harmless. */
function ignoreRace(e: unknown): void {
  const code = (e as { code?: string }).code;
  if (code !== '23505' && code !== '42P06' && code !== '42P07') throw e;
}
