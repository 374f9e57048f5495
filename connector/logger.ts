/**
 * Logging: pino, JSON in production and pretty on a TTY; child loggers carry a `module` field;
 * passwords in URLs and credentials are redacted.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? process.stderr.isTTY;
  return pino(
    {
      level,
      base: { app: 'sluice' },
      redact: {
        paths: [
          'password',
          '*.password',
          'pass',
          '*.pass',
          'token',
          '*.token',
          'databaseUrl',
          '*.databaseUrl',
          'creds',
          '*.creds',
          'natsPassword',
          '*.natsPassword',
          'natsToken',
          '*.natsToken',
          'maskSalt',
          '*.maskSalt',
        ],
        censor: '***',
      },
      serializers: { err: pino.stdSerializers.err },
    },
    pretty
      ? pino.transport({
          target: 'pino-pretty',
          options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l' },
        })
      : pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
