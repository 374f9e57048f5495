/**
 * Configuration: parsed once at the edge with zod into a frozen object. Sources, lowest to highest
 * priority: defaults, a YAML file (`--config` or `SLUICE_CONFIG`), environment variables.
 * Nothing below this module reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, SluiceError } from './errors.js';
import { ColumnPolicy, MaskKinds } from './events/column-policy.js';
import { NATS_SECURITY_ENV, natsSecuritySettings } from '../connections/nats-connect.js';
import { redactSetting } from '../connections/redact.js';

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A lower-case PostgreSQL identifier of at most `max` characters (the limit in the error, too). */
function identifier(max: number) {
  const message = `expected a lower-case identifier of at most ${max} characters`;
  return z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, message)
    .max(max, message);
}

const postgresUrl = z.string().refine((s) => /^postgres(ql)?:\/\//.test(s), {
  message: 'expected postgres://user:password@host:port/database',
});
const natsUrl = z
  .string()
  .refine((s) => s.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s/]+(:\d+)?\/?$/.test(u.trim())), {
    message: 'expected nats://host:port (several separated by commas)',
  });
const duration = z.number().positive();

/**
 * How each setting is documented. The settings table of docs/configuration.md is generated from
 * these and the schema's defaults and bounds (`npm run docs:config`; a test fails when it differs),
 * so the figures there always come from this file.
 */
export interface SettingMeta {
  /** What the setting does (Markdown, one or two sentences). */
  description: string;
  /** Unit or form of the value, e.g. `bytes`, `seconds`, `path`; bounds and enums are added from the schema. */
  unit?: string;
  /** A special value, e.g. `0 = unlimited`. */
  note?: string;
  /** The default when the schema has none to show (computed at load time). */
  defaultText?: string;
}

const doc = (m: SettingMeta) => m as SettingMeta & Record<string, unknown>;

/** The whole configuration of one Sluice source; each field's documentation is in its `.meta()`. */
export const ConfigSchema = z
  .object({
    databaseUrl: postgresUrl.meta(
      doc({
        unit: '`postgres://` or `postgresql://` URL',
        description:
          'The source database. The role needs `REPLICATION`, `SELECT` on the captured tables and ownership of the publications (or `CREATE` on the database to create them); see [security.md](security.md#a-least-privilege-role). TLS is set in the URL: `sslmode`, `sslrootcert`, `sslcert`, `sslkey` (paths); the replication connection uses them too.',
      }),
    ),
    natsUrl: natsUrl.meta(
      doc({
        unit: '`nats://host:port`, several separated by commas (`tls://`, `ws://`, `wss://` also accepted)',
        description: 'NATS servers with JetStream.',
      }),
    ),
    // natsCreds, natsNkeySeed, natsUser, natsPassword, natsToken, natsTlsCa, natsTlsCert, natsTlsKey:
    // shared with the consumers' and read models' settings, documented where they are defined.
    ...natsSecuritySettings,
    source: z
      .string()
      .regex(TOKEN, 'expected letters, digits, _ or -')
      .optional()
      .meta(
        doc({
          unit: '`[A-Za-z0-9_-]+`',
          defaultText:
            'the database name from `databaseUrl`, with characters outside `[A-Za-z0-9_-]` replaced by `_`',
          description:
            'Name of this source: CloudEvents `source` is `sluice/<source>`, and every event id starts with `<source>:`. Keep it stable: the ids are how JetStream recognises duplicates.',
        }),
      ),
    prefix: z
      .string()
      .regex(TOKEN, 'expected one subject token of letters, digits, _ or -')
      .default('cdc')
      .meta(
        doc({
          unit: 'one subject token, `[A-Za-z0-9_-]+`',
          description:
            'Subject prefix. Streams and buckets are named after it upper-cased with `-` → `_`: `CDC_FACTS`, `CDC_DELTAS`, `CDC_SCHEMAS`, `CDC_SNAPSHOTS`, `CDC_LARGE`. Give each source its own prefix when several share one NATS.',
        }),
      ),
    slot: identifier(63)
      .default('sluice')
      .meta(
        doc({
          unit: 'lower-case identifier',
          description: 'Replication slot name (created if missing, plugin `pgoutput`). One slot per source.',
        }),
      ),
    // 59: Sluice also creates `<publication>_ins`, and PostgreSQL names have at most 63 characters.
    publication: identifier(59)
      .default('sluice')
      .meta(
        doc({
          unit: 'lower-case identifier',
          description:
            'Publication name; Sluice also uses `<publication>_ins` (see [operations.md](operations.md#publications-and-tables-without-replica-identity)).',
        }),
      ),
    tables: z
      .array(z.string().regex(/^[^.\s]+\.[^.\s]+$/, 'expected schema.table'))
      .default(['*.*'])
      .meta(
        doc({
          unit: 'list of `schema.table` patterns, `*` matches within one name',
          description:
            'Tables to capture, e.g. `public.*,billing.invoices`. Matched case-sensitively against the catalog names.',
        }),
      ),
    columns: z
      .record(
        z.string(),
        z
          .object({
            exclude: z.array(z.string().min(1)).optional(),
            mask: z.record(z.string().min(1), z.enum(MaskKinds)).optional(),
          })
          .strict(),
      )
      .superRefine((tables, ctx) => {
        for (const name of Object.keys(tables)) {
          if (!/^[^.\s]+\.[^.\s]+$/.test(name))
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'expected the table named as "schema.table"',
            });
        }
      })
      .optional()
      .meta(
        doc({
          unit: '`{ "schema.table": { exclude: [column…], mask: { column: hash | redact | null } } }` (`SLUICE_COLUMNS`: the same as JSON)',
          note: 'unset: every column is published',
          description:
            'Columns kept out of every event, schema and log: `exclude` removes a column, `mask` publishes `hash` (HMAC-SHA-256 of the value with `maskSalt`, hex), `redact` (`"****"`) or `null` instead of its value. Names are checked against the database at start; identity columns cannot be excluded or masked. See [masking.md](masking.md).',
        }),
      ),
    maskSalt: z
      .string()
      .min(16, 'expected at least 16 characters')
      .optional()
      .meta(
        doc({
          unit: 'secret string, at least 16 characters',
          note: 'unset; required when a column is masked with `hash`',
          description:
            'Key of the HMAC behind `hash` masks. Keep it secret and stable: with it, anyone can test guesses against hashes; changing it changes every hash. Never logged.',
        }),
      ),
    snapshot: z
      .enum(['initial', 'never'])
      .default('initial')
      .meta(
        doc({
          description:
            'Whether the very first run snapshots the rows already in the captured tables. Tables that join later are snapshotted either way.',
        }),
      ),
    snapshotChunkSize: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(5000)
      .meta(doc({ unit: 'rows', description: 'Rows read per snapshot chunk (one short query each).' })),
    snapshotRateLimit: z
      .number()
      .min(0)
      .default(0)
      .meta(
        doc({
          unit: 'rows/s',
          note: '0 = unlimited',
          description: 'Upper bound on snapshot speed, to spare the source database.',
        }),
      ),
    streams: z
      .object({
        replicas: z
          .union([z.literal(1), z.literal(3), z.literal(5)])
          .default(1)
          .meta(doc({ description: 'Replicas of the streams, KV buckets and object store Sluice creates.' })),
        factsPerSubject: z
          .number()
          .int()
          .min(1)
          .default(1)
          .meta(
            doc({
              unit: 'messages',
              description:
                'Facts kept per row (`max_msgs_per_subject` of `<P>_FACTS`); 1 makes it a compacted table.',
            }),
          ),
        deltasMaxAgeSec: z
          .number()
          .min(0)
          .default(7 * 24 * 3600)
          .meta(
            doc({
              unit: 'seconds',
              note: '0 = unlimited',
              description: 'How long `<P>_DELTAS` keeps history.',
            }),
          ),
        deltasMaxBytes: z
          .number()
          .int()
          .min(-1)
          .default(-1)
          .meta(
            doc({
              unit: 'bytes',
              note: '-1 = unlimited',
              description: 'Size bound of `<P>_DELTAS`; the oldest messages go first.',
            }),
          ),
        duplicateWindowSec: duration
          .default(120)
          .meta(doc({ unit: 'seconds', description: 'JetStream duplicate window of both streams.' })),
        storage: z
          .enum(['file', 'memory'])
          .default('file')
          .meta(doc({ description: 'Storage of both streams.' })),
      })
      .strict()
      .prefault({}),
    publish: z
      .object({
        maxInFlight: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(4096)
          .meta(
            doc({
              unit: 'messages',
              description:
                'Most messages published and not yet acknowledged; reading the replication stream waits when the window is full.',
            }),
          ),
        maxInFlightBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024)
          .meta(doc({ unit: 'bytes', description: 'The same window, in bytes of message bodies.' })),
        ackTimeoutSec: duration.default(30).meta(
          doc({
            unit: 'seconds',
            description:
              'An acknowledgement older than this ends the session, which restarts from the checkpoint.',
          }),
        ),
      })
      .strict()
      .prefault({}),
    rowCacheSize: z
      .number()
      .int()
      .min(1000)
      .default(20_000)
      .meta(
        doc({
          unit: 'rows',
          description:
            'Latest rows kept in memory to supply old values and unchanged TOAST values; keep it well above `publish.maxInFlight`. Misses are read from the facts stream.',
        }),
      ),
    rowCacheBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(32 * 1024 * 1024)
      .meta(
        doc({
          unit: 'bytes (estimated)',
          description:
            'The same cache, bounded by bytes; keep it above `publish.maxInFlightBytes` so rows still in flight are never evicted.',
        }),
      ),
    httpPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8080)
      .meta(
        doc({
          unit: 'port',
          note: '0 disables',
          description: '`/healthz`, `/readyz`, `/metrics` (`sluice run` only).',
        }),
      ),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
      .default('info')
      .meta(
        doc({
          description: 'Log level. Logs go to stderr: JSON, or pretty when stderr is a terminal.',
        }),
      ),
    statusIntervalSec: duration.default(1).meta(
      doc({
        unit: 'seconds',
        description:
          "How often the confirmed position is reported to PostgreSQL (also while paused). Keep it well below the server's `wal_sender_timeout`.",
      }),
    ),
    tableRefreshSec: duration.default(10).meta(
      doc({
        unit: 'seconds',
        description:
          'How often the connector looks for new tables (or tables that gained a primary key) to add to its publications and snapshot.',
      }),
    ),
    outboxContracts: z
      .string()
      .min(1)
      .optional()
      .meta(
        doc({
          unit: 'path of an ES module',
          note: 'unset: payloads are not checked',
          description:
            "Payload contracts of domain events (the outbox): a module whose default export is `defineEventContracts({ '<type>': zodSchema })` from `sluice/schemas`, relative to the working directory. A payload that breaks its type's contract is dead-lettered on `<prefix>.dlq.connector.outbox` instead of published (see docs/events.md).",
        }),
      ),
    validateEvents: z
      .enum(['off', 'warn', 'fail'])
      .default('off')
      .meta(
        doc({
          description:
            "Check every published event against the contract and its table version's schema ([schemas.md](schemas.md#validating-what-the-connector-publishes)): `warn` logs a mismatch and publishes anyway, `fail` ends the session (the tests use it). About 23 µs of CPU per event.",
        }),
      ),
    heartbeatIntervalSec: z
      .number()
      .min(0)
      .default(5)
      .meta(
        doc({
          unit: 'seconds',
          note: '0 = off',
          description:
            "How often the connector writes a heartbeat into the source database (`pg_logical_emit_message(true, 'sluice.heartbeat', …)`, no table needed), so the slot advances while the captured tables are idle and the server writes elsewhere. While nothing else reaches the deltas stream, each heartbeat is also published there as a position heartbeat on `<prefix>.heartbeat` (see [events.md](events.md#position-heartbeats)).",
        }),
      ),
    retainedWalWarnBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 * 1024 * 1024)
      .meta(
        doc({
          unit: 'bytes',
          note: '0 = never warn',
          description:
            'WAL the slot retains (`pg_current_wal_lsn() − restart_lsn`) above which the connector logs a warning, the metric `sluice_slot_retained_wal_warning` is 1, and `sluice doctor` and `sluice status` warn.',
        }),
      ),
    ha: z
      .enum(['off', 'on'])
      .default('off')
      .meta(
        doc({
          description:
            'High availability: `on` lets several `sluice run` replicas with the same configuration share the source; one holds the leader lease (`connector.<slot>` in `<P>_LEASES`) and streams, the others stand by and take over when it stops renewing ([operations.md](operations.md#high-availability)). With `off` a restarted connector starts at once, without waiting for a previous lease to expire.',
        }),
      ),
    haLeaseSec: z
      .number()
      .min(1)
      .max(300)
      .default(5)
      .meta(
        doc({
          unit: 'seconds',
          description:
            'Time-to-live of the leader lease when `ha` is `on`: the leader renews it every fifth of it and stops publishing once 0.9 of it passed without a successful renewal; a standby takes over within about this long plus one second after the leader died.',
        }),
      ),
    faultPoint: z
      .string()
      .regex(/^fact-after-delta-ack:[1-9]\d*$/, 'expected fact-after-delta-ack:<n>')
      .optional()
      .meta(
        doc({
          unit: '`fact-after-delta-ack:<n>`',
          note: 'unset',
          description:
            'For fault tests only: ends the process with SIGKILL right after the n-th delta whose fact waits for it is acknowledged in a session, before that fact is published.',
        }),
      ),
  })
  .strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** Environment variables and the config path each one sets. */
export const CONFIG_ENV: Record<string, { path: string[]; type: 'string' | 'number' | 'list' | 'json' }> = {
  SLUICE_DATABASE_URL: { path: ['databaseUrl'], type: 'string' },
  SLUICE_NATS_URL: { path: ['natsUrl'], type: 'string' },
  ...Object.fromEntries(
    Object.entries(NATS_SECURITY_ENV).map(([env, key]) => [env, { path: [key], type: 'string' as const }]),
  ),
  SLUICE_SOURCE: { path: ['source'], type: 'string' },
  SLUICE_PREFIX: { path: ['prefix'], type: 'string' },
  SLUICE_SLOT: { path: ['slot'], type: 'string' },
  SLUICE_PUBLICATION: { path: ['publication'], type: 'string' },
  SLUICE_TABLES: { path: ['tables'], type: 'list' },
  SLUICE_COLUMNS: { path: ['columns'], type: 'json' },
  SLUICE_MASK_SALT: { path: ['maskSalt'], type: 'string' },
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
  SLUICE_OUTBOX_CONTRACTS: { path: ['outboxContracts'], type: 'string' },
  SLUICE_VALIDATE_EVENTS: { path: ['validateEvents'], type: 'string' },
  SLUICE_HEARTBEAT_INTERVAL_SEC: { path: ['heartbeatIntervalSec'], type: 'number' },
  SLUICE_RETAINED_WAL_WARN_BYTES: { path: ['retainedWalWarnBytes'], type: 'number' },
  SLUICE_HA: { path: ['ha'], type: 'string' },
  SLUICE_HA_LEASE_SEC: { path: ['haLeaseSec'], type: 'number' },
};

/** Reverse lookup used to name the env variable in error messages. */
function envNameFor(path: (string | number | symbol)[]): string | undefined {
  // A list entry (tables.0) belongs to the list's variable.
  const p = path.filter((k) => typeof k !== 'number').join('.');
  return Object.entries(CONFIG_ENV).find(([, v]) => v.path.join('.') === p)?.[0];
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
  /**
   * Top-level settings of other Sluice components in the same file (the read models'), left to
   * their own parsers instead of being refused as unknown.
   */
  ignore?: readonly string[];
}

/** Reads a YAML config file into a mapping; a SluiceError names the file when it cannot. */
export function readConfigFile(file: string): Record<string, unknown> {
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
  return (parsed ?? {}) as Record<string, unknown>;
}

/** Loads, merges and validates configuration; throws a SluiceError naming the bad setting and the fix. */
export function loadConfig(input: ConfigInput = {}): Config {
  const env = input.env ?? process.env;
  let raw: Record<string, unknown> = {};
  const file = input.file ?? env.SLUICE_CONFIG;
  if (file) raw = readConfigFile(file);
  for (const k of input.ignore ?? []) delete raw[k];
  for (const [name, spec] of Object.entries(CONFIG_ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let value: unknown = v;
    if (spec.type === 'number') value = /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
    if (spec.type === 'json') {
      try {
        value = JSON.parse(v);
      } catch {
        throw new SluiceError(ErrorCodes.config, `${name} is not valid JSON.`, {
          hint: `Set it to a JSON object, e.g. ${name}='{"public.customers":{"exclude":["ssn"]}}'.`,
        });
      }
    }
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
    const shown = typeof got === 'string' ? JSON.stringify(redactSetting(path, got)) : JSON.stringify(got);
    throw new SluiceError(ErrorCodes.config, `${where}: ${issue.message}, got ${shown}.`);
  }
  const cfg = result.data;
  // Hash masks without a salt, a column both excluded and masked: refused here, at the edge.
  new ColumnPolicy(cfg.columns, cfg.maskSalt);
  if (!cfg.source) cfg.source = sourceNameFromUrl(cfg.databaseUrl);
  return deepFreeze(cfg) as Config;
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
