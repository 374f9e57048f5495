/**
 * Configuration: parsed once at the edge with zod into a frozen object. Sources, lowest to highest
 * priority: defaults, a YAML file (`--config` or `SLUICE_CONFIG`), environment variables.
 * Nothing below this module reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, SluiceError } from './errors.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
const TOKEN = /^[A-Za-z0-9_-]+$/;

const postgresUrl = z.string().refine((s) => /^postgres(ql)?:\/\//.test(s), {
  message: 'expected postgres://user:password@host:port/database',
});
const natsUrl = z
  .string()
  .refine((s) => s.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s/]+(:\d+)?\/?$/.test(u.trim())), {
    message: 'expected nats://host:port (several separated by commas)',
  });
const duration = z.number().positive();

/** The whole configuration of one Sluice source. */
export const ConfigSchema = z
  .object({
    /** PostgreSQL connection URL of the source database (needs REPLICATION or superuser). Required. */
    databaseUrl: postgresUrl,
    /** NATS server URL(s), comma-separated. Required. */
    natsUrl: natsUrl,
    /** NATS credentials file (optional). */
    natsCreds: z.string().optional(),
    /** Name of this Sluice source; appears as the CloudEvents `source`. Default: the database name. */
    source: z.string().regex(TOKEN, 'expected letters, digits, _ or -').optional(),
    /** Subject prefix; stream names are its upper-case form plus _FACTS/_DELTAS. Default `cdc`. */
    prefix: z.string().regex(TOKEN, 'expected one subject token of letters, digits, _ or -').default('cdc'),
    /** Replication slot name. Default `sluice`. */
    slot: z
      .string()
      .regex(IDENT, 'expected a lower-case identifier of at most 63 characters')
      .default('sluice'),
    /** Publication name. Default `sluice`. */
    publication: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,58}$/, 'expected a lower-case identifier of at most 59 characters')
      .default('sluice'),
    /**
     * Tables to capture as `schema.table` patterns (`*` wildcard), e.g. `public.*`. Default: every
     * user table the publication can carry.
     */
    tables: z.array(z.string().regex(/^[^.\s]+\.[^.\s]+$/, 'expected schema.table')).default(['*.*']),
    /** Initial snapshot of existing rows: `initial` (default) or `never`. */
    snapshot: z.enum(['initial', 'never']).default('initial'),
    /** Rows per snapshot chunk. Default 5000. */
    snapshotChunkSize: z.number().int().min(1).max(1_000_000).default(5000),
    /** Snapshot rate limit in rows/s; 0 means unlimited. Default 0. */
    snapshotRateLimit: z.number().min(0).default(0),
    streams: z
      .object({
        /** Stream replicas (1, 3 or 5). Default 1. */
        replicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(1),
        /** Facts kept per subject. Default 1 (a compacted table). */
        factsPerSubject: z.number().int().min(1).default(1),
        /** Deltas maximum age in seconds; 0 = unlimited. Default 7 days. */
        deltasMaxAgeSec: z
          .number()
          .min(0)
          .default(7 * 24 * 3600),
        /** Deltas maximum bytes; -1 = unlimited. Default -1. */
        deltasMaxBytes: z.number().int().min(-1).default(-1),
        /** Duplicate window in seconds. Default 120. */
        duplicateWindowSec: duration.default(120),
        /** JetStream storage. Default file. */
        storage: z.enum(['file', 'memory']).default('file'),
      })
      .strict()
      .prefault({}),
    publish: z
      .object({
        /** Most messages published and not yet acknowledged. Default 4096. */
        maxInFlight: z.number().int().min(1).max(1_000_000).default(4096),
        /** Most bytes published and not yet acknowledged. Default 16 MiB. */
        maxInFlightBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024),
        /** Seconds to wait for a JetStream acknowledgement before restarting the session. Default 30. */
        ackTimeoutSec: duration.default(30),
      })
      .strict()
      .prefault({}),
    /** Entries in the in-memory latest-row cache used for old values. Default 20000. */
    rowCacheSize: z.number().int().min(1000).default(20_000),
    /**
     * Estimated bytes the latest-row cache may hold. Default 32 MiB; keep it above
     * publish.maxInFlightBytes so rows still in flight are never evicted.
     */
    rowCacheBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(32 * 1024 * 1024),
    /** HTTP port for /healthz, /readyz and /metrics; 0 disables. Default 8080. */
    httpPort: z.number().int().min(0).max(65535).default(8080),
    /** Log level. Default info. */
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Seconds between standby status updates to PostgreSQL. Default 1. */
    statusIntervalSec: duration.default(1),
    /**
     * Seconds between checks for new or changed tables (added to the publications and
     * snapshotted). Default 10.
     */
    tableRefreshSec: duration.default(10),
    /**
     * For fault tests only: `fact-after-delta-ack:<n>` ends the process with SIGKILL right after the
     * n-th delta whose fact waits for it is acknowledged, before that fact is published (the instant
     * where facts trail deltas). Unset by default.
     */
    faultPoint: z
      .string()
      .regex(/^fact-after-delta-ack:[1-9]\d*$/, 'expected fact-after-delta-ack:<n>')
      .optional(),
  })
  .strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** Environment variables and the config path each one sets. */
const ENV: Record<string, { path: string[]; type: 'string' | 'number' | 'list' }> = {
  SLUICE_DATABASE_URL: { path: ['databaseUrl'], type: 'string' },
  SLUICE_NATS_URL: { path: ['natsUrl'], type: 'string' },
  SLUICE_NATS_CREDS: { path: ['natsCreds'], type: 'string' },
  SLUICE_SOURCE: { path: ['source'], type: 'string' },
  SLUICE_PREFIX: { path: ['prefix'], type: 'string' },
  SLUICE_SLOT: { path: ['slot'], type: 'string' },
  SLUICE_PUBLICATION: { path: ['publication'], type: 'string' },
  SLUICE_TABLES: { path: ['tables'], type: 'list' },
  SLUICE_SNAPSHOT: { path: ['snapshot'], type: 'string' },
  SLUICE_SNAPSHOT_CHUNK_SIZE: { path: ['snapshotChunkSize'], type: 'number' },
  SLUICE_SNAPSHOT_RATE_LIMIT: { path: ['snapshotRateLimit'], type: 'number' },
  SLUICE_STREAM_REPLICAS: { path: ['streams', 'replicas'], type: 'number' },
  SLUICE_DELTAS_MAX_AGE_SEC: { path: ['streams', 'deltasMaxAgeSec'], type: 'number' },
  SLUICE_DELTAS_MAX_BYTES: { path: ['streams', 'deltasMaxBytes'], type: 'number' },
  SLUICE_DUPLICATE_WINDOW_SEC: { path: ['streams', 'duplicateWindowSec'], type: 'number' },
  SLUICE_MAX_IN_FLIGHT: { path: ['publish', 'maxInFlight'], type: 'number' },
  SLUICE_HTTP_PORT: { path: ['httpPort'], type: 'number' },
  SLUICE_LOG_LEVEL: { path: ['logLevel'], type: 'string' },
  SLUICE_TABLE_REFRESH_SEC: { path: ['tableRefreshSec'], type: 'number' },
  SLUICE_ROW_CACHE_SIZE: { path: ['rowCacheSize'], type: 'number' },
  SLUICE_ROW_CACHE_BYTES: { path: ['rowCacheBytes'], type: 'number' },
  SLUICE_STREAM_STORAGE: { path: ['streams', 'storage'], type: 'string' },
  SLUICE_ACK_TIMEOUT_SEC: { path: ['publish', 'ackTimeoutSec'], type: 'number' },
  SLUICE_FAULT_POINT: { path: ['faultPoint'], type: 'string' },
};

/** Reverse lookup used to name the env variable in error messages. */
function envNameFor(path: (string | number | symbol)[]): string | undefined {
  // A list entry (tables.0) belongs to the list's variable.
  const p = path.filter((k) => typeof k !== 'number').join('.');
  return Object.entries(ENV).find(([, v]) => v.path.join('.') === p)?.[0];
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const k of path.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/** Where configuration comes from; defaults to the process's environment. */
export interface ConfigInput {
  env?: Record<string, string | undefined>;
  file?: string;
  overrides?: Record<string, unknown>;
}

/** Loads, merges and validates configuration; throws a SluiceError naming the bad setting and the fix. */
export function loadConfig(input: ConfigInput = {}): Config {
  const env = input.env ?? process.env;
  let raw: Record<string, unknown> = {};
  const file = input.file ?? env.SLUICE_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new SluiceError(ErrorCodes.config, `config file ${file} cannot be read.`, {
        hint: 'Check the path given with --config or SLUICE_CONFIG.',
        cause,
      });
    }
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new SluiceError(ErrorCodes.config, `config file ${file} must hold a YAML mapping.`);
    }
    raw = (parsed ?? {}) as Record<string, unknown>;
  }
  for (const [name, spec] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let value: unknown = v;
    if (spec.type === 'number') value = /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
    if (spec.type === 'list')
      value = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    setPath(raw, spec.path, value);
  }
  for (const [k, v] of Object.entries(input.overrides ?? {})) if (v !== undefined) raw[k] = v;

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length ? `${issue.path.join('.')}.` : '';
      throw new SluiceError(
        ErrorCodes.config,
        `unknown setting ${issue.keys.map((k) => where + k).join(', ')}.`,
        { hint: 'See docs/configuration.md for the settings.' },
      );
    }
    const path = issue.path.join('.');
    const envName = envNameFor(issue.path);
    const got = issue.path.reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k as string] : undefined),
      raw,
    );
    const where = envName ? `${path} (${envName})` : path;
    if (got === undefined && issue.code === 'invalid_type') {
      throw new SluiceError(ErrorCodes.config, `${where} is required.`, {
        hint: envName ? `Set ${envName}.` : `Set ${path} in the config file.`,
      });
    }
    const shown = typeof got === 'string' ? JSON.stringify(redactSecret(path, got)) : JSON.stringify(got);
    throw new SluiceError(ErrorCodes.config, `${where}: ${issue.message}, got ${shown}.`);
  }
  const cfg = result.data;
  if (!cfg.source) cfg.source = sourceNameFromUrl(cfg.databaseUrl);
  return deepFreeze(cfg) as Config;
}

function redactSecret(path: string, value: string): string {
  return path === 'databaseUrl' || path === 'natsUrl'
    ? value.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@')
    : value;
}

/** A source name from the database name in the URL, reduced to a subject-safe token. */
export function sourceNameFromUrl(url: string): string {
  let db = 'postgres';
  try {
    db = decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
  } catch {
    /* keep the default */
  }
  return db.replace(/[^A-Za-z0-9_-]/g, '_');
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
