/**
 * The one way every Sluice process connects to NATS: the connector, every `sluice` command, the
 * consumer runtime and the read models. It turns the NATS settings (URL, TLS files, credentials
 * file, NKey seed, user and password, token) into nats.js options and explains a failed connection
 * in one sentence naming the setting to fix.
 */
import { readFileSync } from 'node:fs';
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import { z } from 'zod';
import { redactUrl } from './redact.js';
import { clientCertificateRejected, findCause, serverCertificateFailure } from './tls-errors.js';

const file = z.string().min(1);

/**
 * The NATS security settings, shared by the connector's, the consumers' and the read models'
 * configuration (same keys, same variables). Each field's `.meta()` is its documentation
 * (the settings table of docs/configuration.md is generated from it).
 */
export const natsSecuritySettings = {
  natsCreds: file.optional().meta({
    unit: 'path',
    description:
      'NATS credentials file (`.creds`: a user JWT and its NKey seed). Use one of `natsCreds`, `natsNkeySeed`, `natsUser`/`natsPassword`, `natsToken`.',
  }),
  natsNkeySeed: file.optional().meta({
    unit: 'path',
    description: 'File holding the NKey seed (`SU…`) of a NATS user authenticated by NKey.',
  }),
  natsUser: z
    .string()
    .min(1)
    .optional()
    .meta({ unit: 'string', description: 'NATS user name (with `natsPassword`).' }),
  natsPassword: z
    .string()
    .min(1)
    .optional()
    .meta({ unit: 'string (secret)', description: 'Password of `natsUser`; never logged or shown.' }),
  natsToken: z
    .string()
    .min(1)
    .optional()
    .meta({ unit: 'string (secret)', description: 'NATS authentication token; never logged or shown.' }),
  natsTlsCa: file.optional().meta({
    unit: 'path (PEM)',
    note: 'unset: the system CAs',
    description:
      "CA certificate(s) that sign the NATS server's certificate. Setting any `natsTls*` makes the connection require TLS (as a `tls://` URL does).",
  }),
  natsTlsCert: file.optional().meta({
    unit: 'path (PEM)',
    description:
      'Client certificate presented to NATS (with `natsTlsKey`), for servers that verify clients (`tls { verify: true }`).',
  }),
  natsTlsKey: file.optional().meta({ unit: 'path (PEM)', description: 'Private key of `natsTlsCert`.' }),
};

/** The NATS security settings as parsed. */
export type NatsSecurity = {
  readonly [K in keyof typeof natsSecuritySettings]?: string | undefined;
};

/** Everything needed to reach NATS: the servers and the security settings. */
export interface NatsTarget extends NatsSecurity {
  /** `nats://host:port`, several separated by commas. */
  readonly natsUrl: string;
}

/** Environment variable → setting, for every NATS security setting. */
export const NATS_SECURITY_ENV: Readonly<Record<string, keyof typeof natsSecuritySettings>> = {
  SLUICE_NATS_CREDS: 'natsCreds',
  SLUICE_NATS_NKEY_SEED: 'natsNkeySeed',
  SLUICE_NATS_USER: 'natsUser',
  SLUICE_NATS_PASSWORD: 'natsPassword',
  SLUICE_NATS_TOKEN: 'natsToken',
  SLUICE_NATS_TLS_CA: 'natsTlsCa',
  SLUICE_NATS_TLS_CERT: 'natsTlsCert',
  SLUICE_NATS_TLS_KEY: 'natsTlsKey',
};

const ENV_OF: Record<string, string> = Object.fromEntries(
  Object.entries({ ...NATS_SECURITY_ENV, SLUICE_NATS_URL: 'natsUrl' }).map(([env, key]) => [key, env]),
);

/** A setting as users write it in both places: `natsTlsCa (SLUICE_NATS_TLS_CA)`. */
export function natsSettingName(key: keyof NatsTarget): string {
  return `${key} (${ENV_OF[key]})`;
}

/** Why a connection to NATS failed: a setting is wrong, or NATS refused us, or cannot be reached. */
export const NatsConnectFailures = {
  /** A setting is inconsistent or names a file that cannot be read. */
  config: 'SLUICE_CONFIG',
  /** The server refused the credentials. */
  auth: 'NATS_AUTH',
  /** TLS failed: the server's certificate is not trusted, or ours was refused. */
  tls: 'NATS_TLS',
  /** No server answered. */
  unreachable: 'NATS_UNREACHABLE',
} as const;
export type NatsConnectFailure = (typeof NatsConnectFailures)[keyof typeof NatsConnectFailures];

/**
 * A failed connection to NATS: `message` is one sentence, `hint` names the setting to fix; the
 * codes are the connector's error codes of the same meaning.
 */
export class NatsConnectError extends Error {
  readonly code: NatsConnectFailure;
  readonly hint: string;
  constructor(code: NatsConnectFailure, message: string, hint: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'NatsConnectError';
    this.code = code;
    this.hint = hint;
  }
}

function readSettingFile(t: NatsTarget, key: keyof NatsSecurity): Buffer {
  const path = t[key]!;
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new NatsConnectError(
      NatsConnectFailures.config,
      `${natsSettingName(key)} names ${path}, which cannot be read (${(cause as { code?: string }).code ?? 'error'}).`,
      `Check the path in ${natsSettingName(key)}.`,
      cause,
    );
  }
}

/**
 * The nats.js options for `t` (servers, TLS, authentication), files read now. Throws a
 * {@link NatsConnectError} (`config`) when settings contradict each other or a file is unreadable.
 */
export function natsConnectionOptions(t: NatsTarget): Partial<ConnectionOptions> {
  const methods = (['natsCreds', 'natsNkeySeed', 'natsUser', 'natsToken'] as const).filter((k) => t[k]);
  if (methods.length > 1) {
    throw new NatsConnectError(
      NatsConnectFailures.config,
      `${methods.map((k) => natsSettingName(k)).join(' and ')} are both set, but NATS takes one way to authenticate.`,
      'Keep one of natsCreds, natsNkeySeed, natsUser/natsPassword or natsToken.',
    );
  }
  if (t.natsUser && !t.natsPassword) {
    throw new NatsConnectError(
      NatsConnectFailures.config,
      `${natsSettingName('natsUser')} is set without ${natsSettingName('natsPassword')}.`,
      `Set ${natsSettingName('natsPassword')}.`,
    );
  }
  if (t.natsPassword && !t.natsUser) {
    throw new NatsConnectError(
      NatsConnectFailures.config,
      `${natsSettingName('natsPassword')} is set without ${natsSettingName('natsUser')}.`,
      `Set ${natsSettingName('natsUser')}.`,
    );
  }
  if (Boolean(t.natsTlsCert) !== Boolean(t.natsTlsKey)) {
    const [set, unset] = t.natsTlsCert
      ? (['natsTlsCert', 'natsTlsKey'] as const)
      : (['natsTlsKey', 'natsTlsCert'] as const);
    throw new NatsConnectError(
      NatsConnectFailures.config,
      `${natsSettingName(set)} is set without ${natsSettingName(unset)}.`,
      `Set both, or neither.`,
    );
  }
  let authenticator: Authenticator | undefined;
  if (t.natsCreds) authenticator = credsAuthenticator(new Uint8Array(readSettingFile(t, 'natsCreds')));
  if (t.natsNkeySeed) {
    const seed = readSettingFile(t, 'natsNkeySeed').toString('utf8').trim();
    if (!/^SU[A-Z2-7]+$/.test(seed)) {
      throw new NatsConnectError(
        NatsConnectFailures.config,
        `${natsSettingName('natsNkeySeed')} names ${t.natsNkeySeed}, which does not hold a user NKey seed (SU…).`,
        'Point it at the file `nsc` or `nk -gen user` wrote the seed to.',
      );
    }
    authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (t.natsUser) authenticator = usernamePasswordAuthenticator(t.natsUser, t.natsPassword);
  if (t.natsToken) authenticator = tokenAuthenticator(t.natsToken);
  const wantsTls =
    Boolean(t.natsTlsCa || t.natsTlsCert) || t.natsUrl.split(',').some((u) => /^\s*tls:\/\//i.test(u));
  let tls: ConnectionOptions['tls'] | undefined;
  if (wantsTls) {
    tls = {};
    // Read here (not by nats.js on connect) so that an unreadable file is a config error naming it.
    if (t.natsTlsCa) tls.ca = readSettingFile(t, 'natsTlsCa').toString('utf8');
    if (t.natsTlsCert) tls.cert = readSettingFile(t, 'natsTlsCert').toString('utf8');
    if (t.natsTlsKey) tls.key = readSettingFile(t, 'natsTlsKey').toString('utf8');
  }
  return {
    servers: t.natsUrl.split(',').map((s) => s.trim()),
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** How a connection behaves once made. */
export interface NatsConnectOptions {
  /** Connection name the server shows (`sluice`, `sluice-doctor`, …). */
  name: string;
  /**
   * A daemon reconnects forever (`maxReconnectAttempts: -1`, watch `nc.closed()`); a one-shot
   * command tries each server once and fails fast. Default true.
   */
  daemon?: boolean;
  /** Milliseconds to wait for a server to answer the first connect. Default 10000. */
  timeoutMs?: number;
}

/** Connects to NATS with the settings of `t`; a failure is a {@link NatsConnectError} in one sentence. */
export async function connectToNats(t: NatsTarget, o: NatsConnectOptions): Promise<NatsConnection> {
  const options = natsConnectionOptions(t);
  const daemon = o.daemon ?? true;
  try {
    return await connect({
      ...options,
      name: o.name,
      timeout: o.timeoutMs ?? 10_000,
      ...(daemon ? { maxReconnectAttempts: -1, reconnectTimeWait: 500 } : { maxReconnectAttempts: 0 }),
    });
  } catch (cause) {
    throw explainNatsConnectError(cause, t);
  }
}

/** A nats.js connect failure as a {@link NatsConnectError} naming the setting to fix. */
export function explainNatsConnectError(e: unknown, t: NatsTarget): NatsConnectError {
  if (e instanceof NatsConnectError) return e;
  const where = `NATS at ${redactUrl(t.natsUrl)}`;
  const detail = e instanceof Error ? e.message : String(e);
  if (findCause(e, (err) => err instanceof AuthorizationError)) {
    const used = t.natsCreds
      ? natsSettingName('natsCreds')
      : t.natsNkeySeed
        ? natsSettingName('natsNkeySeed')
        : t.natsUser
          ? `${natsSettingName('natsUser')} and ${natsSettingName('natsPassword')}`
          : t.natsToken
            ? natsSettingName('natsToken')
            : undefined;
    return new NatsConnectError(
      NatsConnectFailures.auth,
      used
        ? `${where} refused the credentials of ${used} (authorization violation).`
        : `${where} requires authentication and none is configured (authorization violation).`,
      used
        ? `Check ${used} against the server's authorization settings.`
        : 'Set one of natsCreds, natsNkeySeed, natsUser/natsPassword or natsToken.',
      e,
    );
  }
  // nkeys' own errors (code "nkeys: …"): the seed of the credentials file or NKey seed file is bad.
  const nkey = findCause(e, (err) => typeof err.code === 'string' && err.code.startsWith('nkeys:'));
  if (nkey && (t.natsCreds || t.natsNkeySeed)) {
    const setting = natsSettingName(t.natsCreds ? 'natsCreds' : 'natsNkeySeed');
    return new NatsConnectError(
      NatsConnectFailures.config,
      `${setting} holds an NKey seed nats.js cannot use (${String(nkey.code)}).`,
      `Check the file ${setting} names (as written by nsc or nk).`,
      e,
    );
  }
  const untrusted = serverCertificateFailure(e);
  if (untrusted) {
    return new NatsConnectError(
      NatsConnectFailures.tls,
      `the TLS certificate of ${where} is not trusted (${untrusted.code}).`,
      t.natsTlsCa
        ? `Set ${natsSettingName('natsTlsCa')} to the CA that signed the server's certificate (now ${t.natsTlsCa}).`
        : `Set ${natsSettingName('natsTlsCa')} to the CA that signed the server's certificate.`,
      e,
    );
  }
  const refused = clientCertificateRejected(e);
  if (refused) {
    return new NatsConnectError(
      NatsConnectFailures.tls,
      `${where} refused the TLS client certificate (${refused.code}).`,
      t.natsTlsCert
        ? `Check that ${natsSettingName('natsTlsCert')} is signed by a CA the server trusts.`
        : `The server verifies clients: set ${natsSettingName('natsTlsCert')} and ${natsSettingName('natsTlsKey')}.`,
      e,
    );
  }
  if (/tls/i.test(detail) && /required|not available/i.test(detail)) {
    return new NatsConnectError(
      NatsConnectFailures.tls,
      `${where} and the client disagree about TLS: ${detail}.`,
      `Use a tls:// URL and ${natsSettingName('natsTlsCa')} for a TLS server, or a nats:// URL without natsTls* settings for a plain one.`,
      e,
    );
  }
  return new NatsConnectError(
    NatsConnectFailures.unreachable,
    `cannot reach ${where}: ${detail}.`,
    `Check ${natsSettingName('natsUrl')} and that nats-server is running with JetStream (-js).`,
    e,
  );
}
