/**
 * A typed client of the query API (docs/query-api.md) and the read-your-writes helper. Uses the
 * global `fetch` (Node 18+, browsers); imports no server code.
 *
 * ```ts
 * await db.query('COMMIT');
 * const fence = await currentPosition(db);
 * const api = readModels<{ order_summary: OrderSummary }>('http://reads:8082');
 * const row = await api.get('order_summary', [orderId], { minPosition: fence });
 * ```
 */

/** The application's pg client (or pool), by shape. */
export interface QueryableClient {
  query(text: string): Promise<{ rows: unknown[] }>;
}

/**
 * The source database's current WAL position (`pg_current_wal_lsn()`), to pass as `minPosition`.
 * Call it after your transaction committed (on any connection to the source database): every
 * transaction committed before the call lies before this position.
 */
export async function currentPosition(client: QueryableClient): Promise<string> {
  const r = await client.query('SELECT pg_current_wal_lsn()::text AS lsn');
  const row = r.rows[0] as { lsn?: unknown } | undefined;
  if (typeof row?.lsn !== 'string') throw new Error('pg_current_wal_lsn() returned no position');
  return row.lsn;
}

export interface FenceOptions {
  /** Wait until the model reflects this source LSN (read-your-writes). */
  minPosition?: string;
  /** Longest wait for the fence, milliseconds (the server's default otherwise). */
  timeoutMs?: number;
}

export interface ListOptions<R> extends FenceOptions {
  /** Equality filters, column → value (sent as text). */
  where?: Partial<Record<keyof R & string, string | number | boolean>>;
  /** Column to order by; `-column` for descending. The key breaks ties. */
  order?: string;
  limit?: number;
  cursor?: string;
}

export interface Page<R> {
  rows: R[];
  nextCursor: string | null;
  /** The source position the page reflects. */
  position: string;
}

/** An answer other than 2xx (404 unknown model or row, 504 fence not reached, …). */
export class QueryApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  /** For a 504: where the model stands. */
  readonly currentPosition: string | undefined;
  constructor(
    status: number,
    body: { error?: string; code?: string; hint?: string; currentPosition?: string },
  ) {
    super(`${body.error ?? `HTTP ${status}`}${body.hint ? ` ${body.hint}` : ''}`);
    this.name = 'QueryApiError';
    this.status = status;
    this.code = body.code;
    this.currentPosition = body.currentPosition;
  }
}

/** Rows of each model by name: `readModels<{ order_summary: OrderSummary }>(url)`. */
export interface ReadModelsClient<M extends Record<string, object>> {
  /** One row by key (values in key order); null when there is none. */
  get<N extends keyof M & string>(
    name: N,
    key: readonly (string | number)[],
    o?: FenceOptions,
  ): Promise<M[N] | null>;
  /** One page of rows. */
  list<N extends keyof M & string>(name: N, o?: ListOptions<M[N]>): Promise<Page<M[N]>>;
  /** Every row matching `o`, page by page. */
  all<N extends keyof M & string>(name: N, o?: ListOptions<M[N]>): AsyncGenerator<M[N]>;
  /** The OpenAPI description. */
  openApi(): Promise<Record<string, unknown>>;
}

export function readModels<M extends Record<string, object> = Record<string, Record<string, unknown>>>(
  baseUrl: string,
): ReadModelsClient<M> {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async (path: string, params: URLSearchParams): Promise<{ status: number; body: unknown }> => {
    const qs = params.toString();
    const res = await fetch(`${base}${path}${qs ? `?${qs}` : ''}`);
    const body: unknown = await res.json().catch(() => ({}));
    return { status: res.status, body };
  };
  const fenceParams = (o: FenceOptions = {}) => {
    const p = new URLSearchParams();
    if (o.minPosition) p.set('minPosition', o.minPosition);
    if (o.timeoutMs !== undefined) p.set('timeout', String(o.timeoutMs));
    return p;
  };
  const client: ReadModelsClient<M> = {
    async get(name, key, o) {
      const path = `/read-models/${encodeURIComponent(name)}/rows/${key.map((k) => encodeURIComponent(String(k))).join(',')}`;
      const r = await call(path, fenceParams(o));
      if (r.status === 404 && (r.body as { code?: string }).code === 'QUERY_ROW_NOT_FOUND') return null;
      if (r.status !== 200) throw new QueryApiError(r.status, r.body as object);
      return r.body as M[typeof name];
    },
    async list(name, o = {}) {
      const p = fenceParams(o);
      for (const [k, v] of Object.entries(o.where ?? {})) if (v !== undefined) p.set(k, String(v));
      if (o.order) p.set('order', o.order);
      if (o.limit !== undefined) p.set('limit', String(o.limit));
      if (o.cursor) p.set('cursor', o.cursor);
      const r = await call(`/read-models/${encodeURIComponent(name)}`, p);
      if (r.status !== 200) throw new QueryApiError(r.status, r.body as object);
      return r.body as Page<M[typeof name]>;
    },
    async *all(name, o = {}) {
      let cursor = o.cursor;
      for (;;) {
        const page = await client.list(name, { ...o, ...(cursor ? { cursor } : {}) });
        yield* page.rows;
        if (!page.nextCursor) return;
        cursor = page.nextCursor;
      }
    },
    async openApi() {
      const r = await call('/read-models/openapi.json', new URLSearchParams());
      if (r.status !== 200) throw new QueryApiError(r.status, r.body as object);
      return r.body as Record<string, unknown>;
    },
  };
  return client;
}
