/**
 * Settings of the read-model daemon, parsed with zod into a frozen object. They live in the same
 * YAML file and environment as the connector's settings: the CLI reads the file once, hands the
 * read-model keys (READ_MODEL_SETTINGS) to this parser and tells the connector's parser to leave
 * them alone. The NATS settings (natsUrl, natsCreds, prefix, logLevel) are shared with the
 * connector and read from the same places, so this module never imports connector/.
 */
import { z } from 'zod';
import { NATS_SECURITY_ENV, natsSecuritySettings } from '../../connections/nats-connect.js';
import { redactSetting } from '../../connections/redact.js';
import { ReadModelError, ReadModelErrorCodes } from './errors.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
/** Model names leave room for the `__next` suffix of a rebuild within PostgreSQL's 63 characters. */
const MODEL_NAME = /^[a-z_][a-z0-9_]{0,54}$/;

/** One read model: a name, the output columns that identify a row, and a SELECT over source tables. */
export const ReadModelDefinitionSchema = z
  .object({
    /** Table name of the result in the read database's models schema. */
    name: z.string().regex(MODEL_NAME, 'expected a lower-case identifier of at most 55 characters'),
    /** Output columns that identify a row (a unique index is built on them). */
    key: z.array(z.string().min(1)).min(1, 'expected at least one key column'),
    /** The SELECT, written against the source database's own table names. */
    sql: z.string().min(1),
  })
  .strict();
export type ReadModelDefinition = Readonly<z.infer<typeof ReadModelDefinitionSchema>>;

/** Settings of `sluice read-models run|rebuild|status`. */
export const ReadModelsConfigSchema = z.object({
  /** NATS server URL(s), comma-separated (shared with the connector). Required. */
  natsUrl: z.string().min(1),
  /** NATS credentials file, NKey seed, user and password, token, TLS files (shared with the connector). */
  ...natsSecuritySettings,
  /** Subject prefix of the source whose facts are read (shared with the connector). Default `cdc`. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'expected one subject token of letters, digits, _ or -')
    .default('cdc'),
  /** PostgreSQL URL of the read database (replica tables, models, bookkeeping). Required. */
  readDatabaseUrl: z.string().refine((s) => /^postgres(ql)?:\/\//.test(s), {
    message: 'expected postgres://user:password@host:port/database',
  }),
  /** Schema of the model tables in the read database. Default `read_models`. */
  readModelsSchema: z.string().regex(IDENT, 'expected a lower-case identifier').default('read_models'),
  /** Schema that unqualified table names in a model's SQL refer to. Default `public`. */
  readModelsSourceSchema: z.string().regex(IDENT, 'expected a lower-case identifier').default('public'),
  /** The models. Default none. */
  readModels: z.array(ReadModelDefinitionSchema).default([]),
  /** Most facts applied in one read-database transaction (whole source transactions). Default 5000. */
  readModelsBatchFacts: z.number().int().min(1).max(1_000_000).default(5000),
  /**
   * Port of the query API, /healthz and /metrics of `sluice read-models run|serve`
   * (SLUICE_HTTP_PORT in the process's environment; the file key is `readModelsHttpPort`, because
   * the file's `httpPort` is the connector's). 0 disables. Default 8082.
   */
  readModelsHttpPort: z.number().int().min(0).max(65535).default(8082),
  /** Longest wait of a read-your-writes fence (`minPosition`) in milliseconds. Default 5000. */
  queryFenceTimeoutMs: z.number().int().min(0).max(600_000).default(5000),
  /** Log level (shared with the connector). Default info. */
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});
export type ReadModelsConfig = Readonly<z.infer<typeof ReadModelsConfigSchema>>;

/** Top-level settings only the read models use: the connector's parser must ignore them. */
export const READ_MODEL_SETTINGS = [
  'readDatabaseUrl',
  'readModelsSchema',
  'readModelsSourceSchema',
  'readModels',
  'readModelsBatchFacts',
  'readModelsHttpPort',
  'queryFenceTimeoutMs',
] as const;

/** Environment variables this parser reads, and the setting each one sets. */
export const READ_MODELS_ENV: Record<string, { key: string; type: 'string' | 'number' }> = {
  SLUICE_NATS_URL: { key: 'natsUrl', type: 'string' },
  ...Object.fromEntries(
    Object.entries(NATS_SECURITY_ENV).map(([env, key]) => [env, { key, type: 'string' as const }]),
  ),
  SLUICE_PREFIX: { key: 'prefix', type: 'string' },
  SLUICE_LOG_LEVEL: { key: 'logLevel', type: 'string' },
  SLUICE_READ_DATABASE_URL: { key: 'readDatabaseUrl', type: 'string' },
  SLUICE_READ_MODELS_SCHEMA: { key: 'readModelsSchema', type: 'string' },
  SLUICE_READ_MODELS_BATCH_FACTS: { key: 'readModelsBatchFacts', type: 'number' },
  SLUICE_HTTP_PORT: { key: 'readModelsHttpPort', type: 'number' },
  SLUICE_QUERY_FENCE_TIMEOUT_MS: { key: 'queryFenceTimeoutMs', type: 'number' },
};

/**
 * Parses the read-model settings from the config file's mapping (`file`, may hold the connector's
 * settings too), the environment and programmatic `overrides` (definitions given in TypeScript).
 */
export function parseReadModelsConfig(
  file: Record<string, unknown>,
  env: Record<string, string | undefined>,
  overrides: Partial<Record<keyof ReadModelsConfig, unknown>> = {},
): ReadModelsConfig {
  const raw: Record<string, unknown> = {};
  for (const k of [
    'natsUrl',
    ...Object.values(NATS_SECURITY_ENV),
    'prefix',
    'logLevel',
    ...READ_MODEL_SETTINGS,
  ])
    if (file[k] !== undefined) raw[k] = file[k];
  for (const [name, spec] of Object.entries(READ_MODELS_ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    raw[spec.key] = spec.type === 'number' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  const r = ReadModelsConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.join('.');
    const envName = Object.entries(READ_MODELS_ENV).find(([, s]) => s.key === path)?.[0];
    const where = envName ? `${path} (${envName})` : path;
    const got = issue.path.reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k as string] : undefined),
      raw,
    );
    if (got === undefined && issue.code === 'invalid_type')
      throw new ReadModelError(ReadModelErrorCodes.config, `${where} is required.`, {
        hint: envName ? `Set ${envName} or ${path} in the config file.` : `Set ${path} in the config file.`,
      });
    const shown = typeof got === 'string' ? JSON.stringify(redactSetting(path, got)) : 'it';
    throw new ReadModelError(ReadModelErrorCodes.config, `${where}: ${issue.message}, got ${shown}.`, {
      hint: 'See docs/read-models.md for the settings.',
    });
  }
  const names = new Set<string>();
  for (const m of r.data.readModels) {
    if (names.has(m.name))
      throw new ReadModelError(
        ReadModelErrorCodes.config,
        `readModels: the name "${m.name}" is used twice.`,
        {
          hint: 'Give each read model its own name.',
        },
      );
    names.add(m.name);
  }
  return deepFreeze(r.data);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
