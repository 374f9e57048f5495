/**
 * The query API (fastify): `GET /read-models/<name>/rows/<key>`, `GET /read-models/<name>` (filters,
 * order, keyset cursor), `GET /read-models/openapi.json`, `/healthz`, `/metrics`; read-your-writes
 * fences (`minPosition` or `Sluice-Min-Position`). See docs/query-api.md. The only module that
 * imports fastify.
 */
import type { NatsTarget } from '../../connections/nats-connect.js';
import Fastify, { type FastifyRequest } from 'fastify';
import { formatLsn, parseLsn } from '../../schemas/versions.js';
import type { ReadModelDefinition } from '../read-models/config.js';
import { ReadModelError, ReadModelErrorCodes } from '../read-models/errors.js';
import { createMetricsRegistry, type Registry } from '../../observability/metrics-registry.js';
import { ApiMetrics } from './api-metrics.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { loadModels } from './model-catalog.js';
import { listSql, orderColumns, rowByKeySql, type ServedModel } from './model-queries.js';
import { openApiDocument } from './openapi.js';
import { HeartbeatRequests } from './heartbeat-requests.js';
import { PositionWatcher } from './position-watcher.js';
import { pgErrorOf, QueryDb } from './query-db.js';

export interface QueryApiOptions {
  readonly readDatabaseUrl: string;
  /** Schema of the model tables (`readModelsSchema`). */
  readonly readModelsSchema: string;
  readonly readModels: readonly ReadModelDefinition[];
  /** Default longest wait of a fence, milliseconds. */
  readonly fenceTimeoutMs: number;
  /** TCP port (0: any free port). */
  readonly port: number;
  readonly host?: string;
  /**
   * Where to ask the connector for a position heartbeat while a fence waits (a message on
   * `<P>.signal.heartbeat`): a fence on an idle source then returns within the pipeline's latency
   * instead of the heartbeat interval. Without it, fences wait for the connector's timed heartbeats.
   */
  /** The NATS settings (URL, TLS, credentials) and prefix to request heartbeats with. */
  readonly heartbeatRequests?: NatsTarget & { prefix: string };
  /** The process's metrics registry, served at /metrics (a new one with the process metrics when absent). */
  readonly registry?: Registry;
}

export interface QueryApi {
  /** `http://host:port` the API listens on. */
  readonly url: string;
  close(): Promise<void>;
}

const LSN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
const DEFAULT_LIMIT = 100;
const RESERVED = new Set(['order', 'limit', 'cursor', 'minPosition', 'timeout']);

/** An answer that is not a 2xx: status, code, one sentence and how to fix it. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export async function startQueryApi(opts: QueryApiOptions): Promise<QueryApi> {
  const db = new QueryDb(opts.readDatabaseUrl, 'sluice-query-api');
  const requests = opts.heartbeatRequests ? await HeartbeatRequests.connect(opts.heartbeatRequests) : null;
  const watcher = new PositionWatcher(db, requests ? () => requests.request() : undefined);
  const registry = opts.registry ?? createMetricsRegistry({ processMetrics: true });
  const metrics = new ApiMetrics(registry, () => watcher.read());
  const defs = new Map(opts.readModels.map((d) => [d.name, d]));
  let models = new Map<string, ServedModel>();
  const reload = async () => {
    models = await loadModels(db, opts.readModelsSchema, opts.readModels);
  };
  await reload().catch(() => undefined);

  /** The model `name`, reloading the catalog once when its table was not there (or changed). */
  async function model(name: string, fresh = false): Promise<ServedModel> {
    if (!defs.has(name))
      throw new ApiError(
        404,
        'QUERY_UNKNOWN_MODEL',
        `there is no read model "${name}".`,
        'GET /read-models/openapi.json lists the models.',
      );
    if (fresh || !models.has(name)) await reload();
    const m = models.get(name);
    if (!m)
      throw new ApiError(
        503,
        'QUERY_MODEL_NOT_BUILT',
        `read model "${name}" is not built yet.`,
        'Start "sluice read-models run" and wait for it to build the model.',
      );
    return m;
  }

  /** Waits for the request's fence, if any; a 504 when it is not reached in time. */
  async function fence(req: FastifyRequest, name: string): Promise<void> {
    const q = req.query as Record<string, string | undefined>;
    const header = req.headers['sluice-min-position'];
    const raw = q.minPosition ?? (typeof header === 'string' ? header : undefined);
    if (raw === undefined || raw === '') return;
    if (!LSN.test(raw))
      throw new ApiError(
        400,
        'QUERY_BAD_FENCE',
        `minPosition "${raw}" is not a PostgreSQL LSN.`,
        'Pass what SELECT pg_current_wal_lsn() returns, like 0/16B3748.',
      );
    const timeout = q.timeout !== undefined ? Number(q.timeout) : opts.fenceTimeoutMs;
    const started = performance.now();
    const reached = await watcher.waitFor(name, parseLsn(raw), timeout);
    metrics.fence(reached, performance.now() - started);
    if (!reached) {
      const current = formatLsn(watcher.last(name));
      throw new ApiError(
        504,
        'QUERY_FENCE_TIMEOUT',
        `read model "${name}" reflects ${current}, not yet ${raw.toUpperCase()}, after ${timeout} ms.`,
        'Retry, or check "sluice read-models status" and that the connector and the read-model daemon run.',
        { currentPosition: current, minPosition: raw.toUpperCase() },
      );
    }
  }

  /** Runs a model query; a value the column type cannot read is a 400, a rebuilt table a retry. */
  async function run(m: ServedModel, build: (m: ServedModel) => { text: string; params: unknown[] }) {
    for (let attempt = 0; ; attempt++) {
      try {
        const st = build(m);
        return await db.query(st.text, st.params);
      } catch (e) {
        const pe = pgErrorOf(e);
        if (pe && /^(22|42883)/.test(pe.code))
          throw new ApiError(
            400,
            'QUERY_BAD_VALUE',
            `${pe.message} (read model "${m.name}").`,
            "Pass values in the column type's text form (see /read-models/openapi.json).",
          );
        // The table was swapped by a rebuild or changed shape: reload the catalog once.
        if (pe && attempt === 0 && ['42P01', '42703', '0A000'].includes(pe.code)) {
          m = await model(m.name, true);
          continue;
        }
        throw e;
      }
    }
  }

  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 2000 } });
  app.setErrorHandler((err: Error, _req, reply) => {
    if (err instanceof ApiError) {
      void reply
        .status(err.status)
        .send({ error: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}), ...err.extra });
      return;
    }
    const validation = (err as { validation?: unknown }).validation;
    if (validation) {
      void reply.status(400).send({
        error: `${err.message}.`,
        code: 'QUERY_BAD_REQUEST',
        hint: 'See /read-models/openapi.json for the parameters.',
      });
      return;
    }
    void reply.status(500).send({ error: `internal error: ${err.message}`, code: 'QUERY_INTERNAL' });
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.request(req.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime);
  });

  app.get('/healthz', async (_req, reply) => {
    const ok = await db.query('SELECT 1').then(
      () => true,
      () => false,
    );
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'read database unreachable' });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/read-models/openapi.json', async () => {
    await reload();
    return openApiDocument([...models.values()]);
  });

  const fenceQuery = {
    minPosition: { type: 'string' },
    timeout: { type: 'integer', minimum: 0, maximum: 600000 },
  };

  app.get<{ Params: { name: string; '*': string } }>(
    '/read-models/:name/rows/*',
    { schema: { querystring: { type: 'object', properties: fenceQuery, additionalProperties: false } } },
    async (req, reply) => {
      const m = await model(req.params.name);
      // The raw path: a comma inside a key value arrives as %2C and must not split it.
      const path = req.url.split('?')[0]!;
      const rawKey = path.slice(path.indexOf('/rows/') + '/rows/'.length);
      const parts = rawKey.split(',').map((p) => decodeURIComponent(p));
      if (parts.length !== m.key.length)
        throw new ApiError(
          400,
          'QUERY_BAD_KEY',
          `read model "${m.name}" has a key of ${m.key.length} column(s) (${m.key.join(', ')}), got ${parts.length} value(s).`,
          'Separate the key values with commas and URL-encode each one.',
        );
      await fence(req, m.name);
      const [row] = await run(m, (mm) => rowByKeySql(mm, parts));
      const pos = row?.pos ?? '0/0';
      if (!row?.j)
        throw new ApiError(
          404,
          'QUERY_ROW_NOT_FOUND',
          `read model "${m.name}" has no row with ${m.key.join(', ')} = ${parts.join(', ')} at position ${pos}.`,
        );
      const etag = `"${pos}"`;
      void reply.header('ETag', etag).header('Sluice-Position', pos);
      if (req.headers['if-none-match'] === etag) return reply.status(304).send();
      return reply.type('application/json; charset=utf-8').send(row.j);
    },
  );

  app.get<{ Params: { name: string }; Querystring: Record<string, string | number | undefined> }>(
    '/read-models/:name',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            ...fenceQuery,
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            order: { type: 'string' },
            cursor: { type: 'string' },
          },
          additionalProperties: { type: 'string' },
        },
      },
    },
    async (req, reply) => {
      const m = await model(req.params.name);
      const q = req.query;
      const names = new Set(m.columns.map((c) => c.name));
      const filters: [string, string][] = [];
      for (const [k, v] of Object.entries(q)) {
        if (RESERVED.has(k)) continue;
        if (!names.has(k))
          throw new ApiError(
            400,
            'QUERY_UNKNOWN_COLUMN',
            `read model "${m.name}" has no column "${k}".`,
            `Filter on one of: ${[...names].join(', ')}.`,
          );
        filters.push([k, String(v)]);
      }
      let order: { column: string; desc: boolean } | null = null;
      if (typeof q.order === 'string' && q.order !== '') {
        const desc = q.order.startsWith('-');
        const column = desc ? q.order.slice(1) : q.order;
        if (!names.has(column))
          throw new ApiError(
            400,
            'QUERY_UNKNOWN_COLUMN',
            `read model "${m.name}" has no column "${column}" to order by.`,
            `Order by one of: ${[...names].join(', ')} (prefix - for descending).`,
          );
        order = { column, desc };
      }
      const limit = typeof q.limit === 'number' ? q.limit : DEFAULT_LIMIT;
      const width = orderColumns(m, order).length;
      let after = null;
      if (typeof q.cursor === 'string' && q.cursor !== '') {
        after = decodeCursor(q.cursor, width);
        if (!after)
          throw new ApiError(
            400,
            'QUERY_BAD_CURSOR',
            'the cursor is not one this API returned for this order.',
            'Pass nextCursor of the previous page unchanged, with the same order.',
          );
      }
      await fence(req, m.name);
      const rows = await run(m, (mm) => listSql(mm, { filters, order, limit, after }));
      const pos = rows[0]?.pos ?? '0/0';
      const found = rows.filter((r) => r.j !== null);
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      const nextCursor =
        found.length > limit && last
          ? encodeCursor(Array.from({ length: width }, (_, i) => last[`c${i}`] ?? null))
          : null;
      void reply.header('ETag', `"${pos}"`).header('Sluice-Position', pos);
      return reply
        .type('application/json; charset=utf-8')
        .send(
          `{"rows":[${page.map((r) => r.j).join(',')}],"nextCursor":${JSON.stringify(nextCursor)},"position":${JSON.stringify(pos)}}`,
        );
    },
  );

  try {
    await app.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
  } catch (e) {
    watcher.close();
    await db.close();
    await requests?.close();
    if ((e as { code?: unknown }).code === 'EADDRINUSE')
      throw new ReadModelError(
        ReadModelErrorCodes.httpPort,
        `port ${opts.port} of the query API is in use.`,
        {
          hint: 'Set SLUICE_HTTP_PORT (readModelsHttpPort) to a free port, or 0 to run without the API.',
          cause: e,
        },
      );
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      watcher.close();
      await app.close();
      await db.close();
      await requests?.close();
    },
  };
}
