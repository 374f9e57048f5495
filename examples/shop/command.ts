import { parseArgs } from 'node:util';
import { redactUrl } from './db.js';
import { seedShop } from './seed.js';
import { OP_KINDS, runTraffic, type TrafficStats } from './traffic.js';

/** Extra inputs of {@link runShopCommand}; the CLI passes none and gets process.env and signals. */
export interface ShopCommandOptions {
  /** Environment to read SLUICE_DATABASE_URL from. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Stops traffic early. Default: SIGINT/SIGTERM of this process, while traffic runs. */
  signal?: AbortSignal;
}

const USAGE = [
  'usage: sluice example shop seed --url URL --customers N [--products N] [--orders N] [--seed S] [--batch-size N]',
  'usage: sluice example shop traffic --url URL --rate R --duration S [--seed S] [--concurrency C]',
  'URL defaults to $SLUICE_DATABASE_URL; R is row changes per second, S seconds.',
];

const SEED_OPTIONS = {
  url: { type: 'string' },
  customers: { type: 'string' },
  products: { type: 'string' },
  orders: { type: 'string' },
  seed: { type: 'string' },
  'batch-size': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const TRAFFIC_OPTIONS = {
  url: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  seed: { type: 'string' },
  concurrency: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A mistake in the command line: reported as one sentence, exit code 2. */
class UsageError extends Error {}

/**
 * Runs `sluice example shop <seed|traffic> ...` with `args` after "shop"; writes lines to `out` and
 * returns the exit code: 0 done, 1 failed (e.g. database unreachable), 2 bad command line.
 */
export async function runShopCommand(
  args: string[],
  out: (line: string) => void,
  opts: ShopCommandOptions = {},
): Promise<number> {
  const env = opts.env ?? process.env;
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'seed':
        return await seedCommand(rest, out, env);
      case 'traffic':
        return await trafficCommand(rest, out, env, opts.signal);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        USAGE.forEach((line) => out(line));
        // A bare `shop` is a mistake (exit 2); asking for help is not.
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown shop command "${sub}"; expected "seed" or "traffic".`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      // One sentence naming the mistake and the fix; --help prints the full usage.
      out(`sluice example shop: ${error.message}`);
      return 2;
    }
    out(`sluice example shop ${sub}: ${(error as Error).message}`);
    return 1;
  }
}

async function seedCommand(
  args: string[],
  out: (line: string) => void,
  env: Record<string, string | undefined>,
): Promise<number> {
  const values = parse('seed', args, SEED_OPTIONS);
  if (values.help) {
    out(USAGE[0]!);
    return 0;
  }
  const url = databaseUrl(values.url, env);
  if (values.customers === undefined) throw new UsageError('seed needs --customers N.');
  const stats = await seedShop(url, {
    customers: integer('--customers', values.customers, 0),
    products: optionalInteger('--products', values.products, 0),
    orders: optionalInteger('--orders', values.orders, 0),
    seed: optionalInteger('--seed', values.seed, 0),
    batchSize: optionalInteger('--batch-size', values['batch-size'], 1),
  });
  out(
    `seeded ${redactUrl(url)} in ${stats.elapsedSec.toFixed(1)}s: ${stats.customers} customers, ` +
      `${stats.addresses} addresses, ${stats.products} products (+inventory), ${stats.orders} orders, ` +
      `${stats.orderItems} order items, ${stats.payments} payments, ${stats.auditLog} audit rows`,
  );
  return 0;
}

async function trafficCommand(
  args: string[],
  out: (line: string) => void,
  env: Record<string, string | undefined>,
  signal: AbortSignal | undefined,
): Promise<number> {
  const values = parse('traffic', args, TRAFFIC_OPTIONS);
  if (values.help) {
    out(USAGE[1]!);
    return 0;
  }
  const url = databaseUrl(values.url, env);
  if (values.rate === undefined) throw new UsageError('traffic needs --rate R (row changes per second).');
  if (values.duration === undefined) throw new UsageError('traffic needs --duration S (seconds).');
  const rate = positiveNumber('--rate', values.rate);
  const durationSec = positiveNumber('--duration', values.duration);
  const seed = optionalInteger('--seed', values.seed, 0);
  const concurrency = optionalInteger('--concurrency', values.concurrency, 1);

  // Ctrl-C ends the run cleanly (transactions in flight commit) and still prints the summary.
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  if (signal) signal.addEventListener('abort', stop, { once: true });
  else {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  let previous = { changes: 0, elapsedSec: 0 };
  try {
    out(`traffic against ${redactUrl(url)}: target ${rate} changes/s for ${durationSec}s`);
    const stats = await runTraffic(url, {
      rate,
      durationSec,
      seed,
      concurrency,
      signal: controller.signal,
      onProgress: (s) => {
        const window = s.elapsedSec - previous.elapsedSec;
        const current = window > 0 ? (s.changes - previous.changes) / window : 0;
        previous = s;
        out(
          `${s.elapsedSec.toFixed(0).padStart(5)}s  ${current.toFixed(0)} changes/s now, ` +
            `${s.achievedRate.toFixed(0)} overall  ops ${s.ops}  errors ${s.errors}  p99 ${s.latencyMs.p99.toFixed(1)}ms`,
        );
      },
    });
    summarize(stats, rate, out);
    return 0;
  } finally {
    if (signal) signal.removeEventListener('abort', stop);
    else {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }
}

function summarize(s: TrafficStats, rate: number, out: (line: string) => void): void {
  out(
    `traffic done in ${s.elapsedSec.toFixed(1)}s: achieved ${s.achievedRate.toFixed(1)} changes/s ` +
      `(target ${rate}), ${s.changes} changes in ${s.ops} transactions, ${s.errors} errors, ${s.retries} retries`,
  );
  out(
    `latency p50 ${s.latencyMs.p50.toFixed(2)}ms  p99 ${s.latencyMs.p99.toFixed(2)}ms  ` +
      `p99.9 ${s.latencyMs.p999.toFixed(2)}ms`,
  );
  out(`ops: ${OP_KINDS.map((k) => `${k} ${s.opsByKind[k]}`).join(', ')}`);
}

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function parse<T extends Spec>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = (error as Error).message;
    const flag = /'([^']+)'/.exec(message)?.[1] ?? '';
    const known = Object.keys(options)
      .filter((k) => k !== 'help')
      .map((k) => `--${k}`)
      .join(', ');
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new UsageError(`${command} does not take ${flag}; its options are ${known}.`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(`${flag.split(' ')[0]} needs a value.`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError(
        `${command} takes no positional arguments, got ${flag}; its options are ${known}.`,
      );
    }
    throw error;
  }
}

function databaseUrl(flag: string | undefined, env: Record<string, string | undefined>): string {
  const url = flag ?? env['SLUICE_DATABASE_URL'];
  if (!url) throw new UsageError('no database: pass --url postgres://... or set SLUICE_DATABASE_URL.');
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new UsageError(`--url must be a postgres:// URL, got "${redactUrl(url)}".`);
  }
  return url;
}

function integer(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${flag} must be an integer of at least ${min}, got "${text}".`);
  }
  return value;
}

function optionalInteger(flag: string, text: string | undefined, min: number): number | undefined {
  return text === undefined ? undefined : integer(flag, text, min);
}

function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number, got "${text}".`);
  }
  return value;
}
