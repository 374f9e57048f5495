/**
 * `sluice consumers run <module…>` (the consumer daemon), `list|status [--json]` and
 * `reset <name> --from beginning|<ISO time>|<stream sequence>`.
 */
import { createLogger } from '../../connector/logger.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import {
  listConsumers,
  parseResetTarget,
  resetConsumer,
  type ConsumerStatus,
} from '../../consumers/runtime/consumer-admin.js';
import { hostConsumers } from '../../consumers/runtime/consumer-host.js';
import { connectNats, JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { loadConsumerModules } from '../../consumers/runtime/module-loader.js';
import { consumerSettingsFrom, parseOptions, print, withJetStream } from './common.js';

const USAGE = `usage: sluice consumers run <module…>
       sluice consumers list|status [--json]
       sluice consumers reset <name> --from beginning|<ISO time>|<stream sequence>`;

export async function consumersCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'run':
      return runConsumers(rest);
    case 'list':
    case 'status':
      return statusConsumers(rest);
    case 'reset':
      return resetCommand(rest);
    default:
      process.stderr.write(`sluice consumers: unknown subcommand "${sub ?? ''}".\n${USAGE}\n`);
      return 2;
  }
}

async function runConsumers(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, {}, true);
  if (positionals.length === 0) usage('name at least one consumer module');
  const s = consumerSettingsFrom(values);
  const log = createLogger(s.logLevel);
  const defs = await loadConsumerModules(positionals);
  const nc = await connectNats(s, `sluice consumers ${defs.map((d) => d.name).join(',')}`);
  const abort = new AbortController();
  const onSignal = (signal: string) => {
    log.info({ signal }, 'stopping: running handlers finish, queued events go back to the server');
    abort.abort();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  try {
    const client = await JetStreamClient.create(nc);
    log.info(
      { consumers: defs.map((d) => d.name), prefix: s.prefix, httpPort: s.httpPort },
      'consumers starting',
    );
    await hostConsumers(defs, { client, prefix: s.prefix, log, httpPort: s.httpPort }, abort.signal);
  } finally {
    await nc.drain().catch(() => undefined);
    log.flush?.();
  }
  return 0;
}

async function statusConsumers(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { json: { type: 'boolean' } });
  const s = consumerSettingsFrom(values);
  const list = await withJetStream(s, 'sluice consumers status', (c) => listConsumers(c, s.prefix));
  if (values.json) {
    print(JSON.stringify(list, null, 2));
    return 0;
  }
  if (list.length === 0) {
    print(`no consumers (prefix ${s.prefix})`);
    return 0;
  }
  printTable(list);
  return 0;
}

function printTable(list: ConsumerStatus[]): void {
  const rows = [
    ['consumer', 'stream', 'position', 'pending', 'ack pending', 'redelivered', 'dead letters', 'last ack'],
    ...list.map((c) => [
      c.name,
      c.stream,
      String(c.position),
      String(c.pending),
      String(c.ackPending),
      String(c.redelivered),
      String(c.deadLetters),
      c.lastActiveSec === null ? '-' : `${c.lastActiveSec}s ago`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    print(
      r
        .map((v, i) => v.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

async function resetCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { from: { type: 'string' } }, true);
  const [name] = positionals;
  if (!name || positionals.length > 1) usage('name one consumer');
  if (!values.from) usage('say where to rewind to with --from');
  const target = parseResetTarget(values.from);
  const s = consumerSettingsFrom(values);
  const st = await withJetStream(s, 'sluice consumers reset', (c) =>
    resetConsumer(c, s.prefix, name, target),
  );
  print(`consumer ${st.name} on ${st.stream} rewound to ${values.from}: ${st.pending} messages to deliver`);
  return 0;
}

function usage(what: string): never {
  throw new SluiceError(ErrorCodes.config, `sluice consumers: ${what}.`, {
    hint: USAGE.replace(/\n\s*/g, ' | '),
  });
}
