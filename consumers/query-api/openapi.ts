/**
 * The OpenAPI 3.1 description of the query API, generated from the served models: one row schema
 * per model (columns typed by the lossless mapping), its list and by-key paths and their filters.
 */
import { columnJsonSchema } from './json-columns.js';
import type { ServedModel } from './model-queries.js';

const FENCE_PARAMS = [
  {
    name: 'minPosition',
    in: 'query',
    required: false,
    description:
      'Read-your-writes fence: a source LSN (what `SELECT pg_current_wal_lsn()` returned after the write committed). The answer waits until the model reflects it, or is 504. Also as the header `Sluice-Min-Position`.',
    schema: { type: 'string', pattern: '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$' },
  },
  {
    name: 'timeout',
    in: 'query',
    required: false,
    description: 'Longest wait for the fence in milliseconds (default: the server setting, 5000).',
    schema: { type: 'integer', minimum: 0, maximum: 600000 },
  },
];

const ERROR = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    code: { type: 'string' },
    hint: { type: 'string' },
    currentPosition: { type: 'string' },
  },
  required: ['error', 'code'],
};

export function openApiDocument(models: readonly ServedModel[]): Record<string, unknown> {
  const schemas: Record<string, unknown> = { Error: ERROR };
  const paths: Record<string, unknown> = {};
  const errors = (extra: Record<string, unknown> = {}) => ({
    '400': {
      description: 'bad parameter',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
    '404': {
      description: 'unknown model or row',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
    '504': {
      description: 'the fence was not reached within the timeout; `currentPosition` says where the model is',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
    ...extra,
  });
  for (const m of [...models].sort((a, b) => a.name.localeCompare(b.name))) {
    const properties: Record<string, unknown> = {};
    for (const c of m.columns) properties[c.name] = columnJsonSchema(c, !m.key.includes(c.name));
    schemas[m.name] = { type: 'object', properties, required: m.columns.map((c) => c.name) };
    const ref = { $ref: `#/components/schemas/${m.name}` };
    const headers = {
      ETag: { description: 'the model position the answer reflects', schema: { type: 'string' } },
      'Sluice-Position': { description: 'the source LSN the model reflects', schema: { type: 'string' } },
    };
    paths[`/read-models/${m.name}`] = {
      get: {
        operationId: `list_${m.name}`,
        summary: `Rows of read model ${m.name}`,
        parameters: [
          ...m.columns
            .filter((c) => c.elemTypname === null && !['json', 'jsonb'].includes(c.typname))
            .map((c) => ({
              name: c.name,
              in: 'query',
              required: false,
              description: `rows whose ${c.name} equals this value (${c.sqlType})`,
              schema: { type: 'string' },
            })),
          {
            name: 'order',
            in: 'query',
            required: false,
            description:
              'column to order by, `-column` for descending; the key breaks ties (default: the key)',
            schema: { type: 'string', enum: m.columns.flatMap((c) => [c.name, `-${c.name}`]) },
          },
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
          {
            name: 'cursor',
            in: 'query',
            required: false,
            description: '`nextCursor` of the previous page',
            schema: { type: 'string' },
          },
          ...FENCE_PARAMS,
        ],
        responses: {
          '200': {
            description: 'a page of rows',
            headers,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    rows: { type: 'array', items: ref },
                    nextCursor: { type: ['string', 'null'] },
                    position: { type: 'string' },
                  },
                  required: ['rows', 'nextCursor', 'position'],
                },
              },
            },
          },
          ...errors(),
        },
      },
    };
    paths[`/read-models/${m.name}/rows/{key}`] = {
      get: {
        operationId: `get_${m.name}`,
        summary: `One row of read model ${m.name} by its key (${m.key.join(', ')})`,
        parameters: [
          {
            name: 'key',
            in: 'path',
            required: true,
            description: `the key's values (${m.key.join(', ')}) comma-separated, each URL-encoded`,
            schema: { type: 'string' },
          },
          ...FENCE_PARAMS,
        ],
        responses: {
          '200': { description: 'the row', headers, content: { 'application/json': { schema: ref } } },
          '304': { description: 'not modified since the ETag in If-None-Match' },
          ...errors(),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice read models', version: '1' },
    paths,
    components: { schemas },
  };
}
