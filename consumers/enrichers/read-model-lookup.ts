/**
 * `ctx.readModels` of an enricher: rows of the read models (docs/read-models.md), read from the
 * read database with a read-your-writes fence at the transaction being enriched — a lookup waits
 * until the model reflects that transaction's commit (its position, as the query API's fences, see
 * docs/query-api.md), then reads. So it sees at least the state the transaction left, like the
 * facts lookups, and can answer what facts cannot: rows by a non-key column, joins and aggregates
 * the model computed. Values come in the query API's lossless JSON mapping.
 */
import { parseLsn } from '../../schemas/versions.js';
import { ConsumerError, ConsumerErrorCodes } from '../runtime/errors.js';
import { loadModels } from '../query-api/model-catalog.js';
import { listSql, rowByKeySql, type ServedModel } from '../query-api/model-queries.js';
import { PositionWatcher } from '../query-api/position-watcher.js';
import { QueryDb } from '../query-api/query-db.js';

/** A model row: column → JSON value (int8 and numeric as strings, as the query API serves them). */
export type ModelRow = Record<string, unknown>;

export interface ReadModelLookup {
  /** The row of `model` with this key (`{ column: value }`, or the values in key order), or null. */
  get(model: string, key: Readonly<Record<string, unknown>> | readonly unknown[]): Promise<ModelRow | null>;
  /**
   * Rows of `model` whose columns equal `where` (all of them), ordered by `order` (default the
   * key), at most `limit` (default 100, at most 1000).
   */
  list(
    model: string,
    where?: Readonly<Record<string, unknown>>,
    opts?: { order?: string; desc?: boolean; limit?: number },
  ): Promise<ModelRow[]>;
}

export interface ReadModelLookupOptions {
  /** The read database (where `sluice read-models run` keeps the models). */
  readonly databaseUrl: string;
  /** Schema of the model tables. */
  readonly schema: string;
  /** Milliseconds a lookup waits for the model to reflect the transaction; then the attempt fails (retried). */
  readonly waitMs: number;
  /** Asks the connector for a position heartbeat now (idle sources: see position-watcher.ts). */
  readonly requestHeartbeat?: () => void;
}

/** A value as the text a column's input function reads (`$n::type`). */
function inputText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The lookups of one enricher process: one pool, one position watcher, the models' catalog. */
export class ReadModelLookups {
  readonly #opts: ReadModelLookupOptions;
  #db: QueryDb | undefined;
  #watcher: PositionWatcher | undefined;
  #models: Map<string, ServedModel> | undefined;

  constructor(opts: ReadModelLookupOptions) {
    this.#opts = opts;
  }

  /** Lookups fenced at the commit LSN of the transaction being enriched (`tx.lsn`). */
  at(commitLsn: string, signal: AbortSignal): ReadModelLookup {
    const fence = parseLsn(commitLsn);
    const ready = async (name: string): Promise<ServedModel> => {
      const m = await this.#model(name);
      const reached = await this.#watcher!.waitFor(name, fence, signal.aborted ? 0 : this.#opts.waitMs);
      if (!reached) {
        throw new ConsumerError(
          ConsumerErrorCodes.config,
          `read model ${name} does not reflect the transaction at ${commitLsn} after ${this.#opts.waitMs} ms.`,
          {
            hint: 'Check that "sluice read-models run" runs against this read database (sluice read-models status); the transaction is retried.',
          },
        );
      }
      return m;
    };
    return {
      get: async (name, key) => {
        const m = await ready(name);
        const values = Array.isArray(key)
          ? key.map(inputText)
          : m.key.map((k) => {
              const rec = key as Readonly<Record<string, unknown>>;
              if (!(k in rec))
                throw this.#misuse(`the key of ${name} needs ${m.key.join(', ')}; ${k} is missing`);
              return inputText(rec[k]);
            });
        if (values.length !== m.key.length)
          throw this.#misuse(
            `the key of ${name} has ${m.key.length} column(s) (${m.key.join(', ')}), not ${values.length}`,
          );
        const st = rowByKeySql(m, values);
        const [row] = await this.#db!.query(st.text, st.params);
        return row?.j ? (JSON.parse(row.j) as ModelRow) : null;
      },
      list: async (name, where = {}, opts = {}) => {
        const m = await ready(name);
        const known = new Set(m.columns.map((c) => c.name));
        for (const c of [...Object.keys(where), ...(opts.order ? [opts.order] : [])])
          if (!known.has(c)) throw this.#misuse(`read model ${name} has no column ${c}`);
        const limit = Math.min(Math.max(1, Math.floor(opts.limit ?? 100)), 1000);
        const st = listSql(m, {
          filters: Object.entries(where).map(([c, v]) => [c, inputText(v)] as const),
          order: opts.order ? { column: opts.order, desc: opts.desc ?? false } : null,
          limit: limit - 1, // listSql asks for one more row, to tell whether a next page exists
          after: null,
        });
        const rows = await this.#db!.query(st.text, st.params);
        return rows.filter((r) => r.j !== null).map((r) => JSON.parse(r.j!) as ModelRow);
      },
    };
  }

  async #model(name: string): Promise<ServedModel> {
    this.#db ??= new QueryDb(this.#opts.databaseUrl, 'sluice-enricher', 4);
    this.#watcher ??= new PositionWatcher(this.#db, this.#opts.requestHeartbeat);
    let m = this.#models?.get(name);
    if (!m) {
      // (Re)read the catalog: the model may have been built since.
      this.#models = await loadModels(
        this.#db,
        this.#opts.schema,
        await modelKeys(this.#db, this.#opts.schema),
      );
      m = this.#models.get(name);
    }
    if (!m) {
      throw new ConsumerError(
        ConsumerErrorCodes.config,
        `read model ${name} does not exist in schema ${this.#opts.schema} of the read database.`,
        {
          hint: 'Name a model of the read-models file that "sluice read-models run" maintains (sluice read-models status lists them); the transaction is retried.',
        },
      );
    }
    return m;
  }

  #misuse(what: string): ConsumerError {
    return new ConsumerError(ConsumerErrorCodes.config, `ctx.readModels: ${what}.`, {
      hint: 'Fix enrich (the transaction is retried, then dead-lettered).',
    });
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    await this.#db?.close();
  }
}

/** Every model table of `schema` with its key: the columns of its unique index (the daemon's `<model>_key`). */
async function modelKeys(db: QueryDb, schema: string): Promise<{ name: string; key: string[] }[]> {
  const rows = await db.query(
    `SELECT c.relname AS model, array_to_json(array_agg(a.attname ORDER BY k.ord))::text AS key
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN LATERAL (SELECT i.indkey FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
                   ORDER BY i.indexrelid LIMIT 1) ix ON true
     JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE n.nspname = $1 AND c.relkind = 'r'
     GROUP BY c.relname`,
    [schema],
  );
  return rows.map((r) => ({ name: r.model!, key: JSON.parse(r.key!) as string[] }));
}
