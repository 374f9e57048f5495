/**
 * The one helper that keeps secrets out of messages and logs: passwords in URLs and the values of
 * secret-bearing settings are replaced by `***`.
 */

/** Settings whose whole value is a secret (never shown, not even in a config error). */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set(['natsPassword', 'natsToken', 'maskSalt']);

/** Settings holding URLs that may carry a password (`scheme://user:password@host`). */
const URL_SETTINGS: ReadonlySet<string> = new Set(['databaseUrl', 'readDatabaseUrl', 'natsUrl']);

/**
 * Replaces the password of a URL, or of each URL of a comma-separated list, with `***`. A token
 * given as the only user-info part (`nats://token@host`) is a secret too and is replaced as well.
 */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((u) =>
      u.replace(/^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)([^@/?#]*)@/, (_m, scheme: string, info: string) => {
        const colon = info.indexOf(':');
        // nats://<token>@host: the user-info is the token itself.
        if (colon < 0) return /^nats|^tls|^ws/i.test(scheme) ? `${scheme}***@` : `${scheme}${info}@`;
        return `${scheme}${info.slice(0, colon)}:***@`;
      }),
    )
    .join(',');
}

/** The value of setting `key` as it may be shown: URLs without their password, secrets as `***`. */
export function redactSetting(key: string, value: string): string {
  if (SECRET_SETTINGS.has(key)) return '***';
  return URL_SETTINGS.has(key) ? redactUrl(value) : value;
}
