/**
 * Settings of the consumer commands (`sluice consumers …`, `sluice dlq …`), parsed once at the
 * edge with zod into a frozen object; a bad value fails naming the variable and the fix.
 */
import { z } from 'zod';
import { NATS_SECURITY_ENV, natsSecuritySettings } from '../../connections/nats-connect.js';
import { redactSetting } from '../../connections/redact.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';

const Settings = z.object({
  /** NATS server URL(s), comma-separated. Required (SLUICE_NATS_URL). */
  natsUrl: z
    .string()
    .refine((s) => s.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s/]+(:\d+)?\/?$/.test(u.trim())), {
      message: 'expected nats://host:port (several separated by commas)',
    }),
  /** NATS credentials file, NKey seed, user and password, token, TLS files (SLUICE_NATS_*; docs/security.md). */
  ...natsSecuritySettings,
  /** Subject prefix of the source (SLUICE_PREFIX). Default `cdc`. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'expected one subject token of letters, digits, _ or -')
    .default('cdc'),
  /** Port of /healthz, /readyz, /metrics of `sluice consumers run` (SLUICE_CONSUMERS_HTTP_PORT); 0 disables. Default 8081. */
  httpPort: z.number().int().min(0).max(65535).default(8081),
  /** Log level (SLUICE_LOG_LEVEL). Default info. */
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type RuntimeSettings = Readonly<z.infer<typeof Settings>>;

const ENV: Record<keyof z.infer<typeof Settings>, string> = {
  natsUrl: 'SLUICE_NATS_URL',
  ...(Object.fromEntries(Object.entries(NATS_SECURITY_ENV).map(([env, key]) => [key, env])) as Record<
    keyof typeof natsSecuritySettings,
    string
  >),
  prefix: 'SLUICE_PREFIX',
  httpPort: 'SLUICE_CONSUMERS_HTTP_PORT',
  logLevel: 'SLUICE_LOG_LEVEL',
};

/**
 * Reads the settings from `file` (the keys of the connector's YAML config that apply: natsUrl,
 * natsCreds, prefix, logLevel) overridden by the environment. The HTTP port has no YAML key:
 * the connector's config file is strict, and its `httpPort` is the connector's.
 */
export function loadRuntimeSettings(
  env: Record<string, string | undefined>,
  file: Record<string, unknown> = {},
): RuntimeSettings {
  const raw: Record<string, unknown> = {};
  for (const k of ['natsUrl', ...Object.values(NATS_SECURITY_ENV), 'prefix', 'logLevel'] as const)
    if (file[k] !== undefined) raw[k] = file[k];
  for (const [key, name] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    raw[key] = key === 'httpPort' && /^\d+$/.test(v) ? Number(v) : v;
  }
  const r = Settings.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const key = String(i.path[0]) as keyof typeof ENV;
    const name = ENV[key] ?? key;
    const message =
      raw[key] === undefined
        ? `${name} is not set.`
        : `${name}: ${i.message}, got ${JSON.stringify(typeof raw[key] === 'string' ? redactSetting(key, raw[key]) : raw[key])}.`;
    throw new ConsumerError(ConsumerErrorCodes.config, message, {
      hint:
        key === 'natsUrl'
          ? 'Set SLUICE_NATS_URL=nats://host:4222 (the NATS the connector publishes to).'
          : 'See docs/consumers.md, "Running".',
    });
  }
  return Object.freeze(r.data);
}
