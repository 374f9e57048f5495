/**
 * `sluice read-models run|rebuild <name>|status [--json]`: the read-model daemon, a rebuild of one
 * model, and where each model stands (see docs/read-models.md).
 */
import { createLogger, silentLogger } from '../../connector/logger.js';
import { runReadModels } from '../../consumers/read-models/daemon.js';
import { ReadModelMetrics } from '../../consumers/read-models/read-model-metrics.js';
import { createMetricsRegistry, type Registry } from '../../observability/metrics-registry.js';
import { rebuildReadModel } from '../../consumers/read-models/rebuild.js';
import { collectReadModelsStatus } from '../../consumers/read-models/status.js';
import type { ReadModelsConfig } from '../../consumers/read-models/config.js';
import { startQueryApi, type QueryApi } from '../../consumers/query-api/index.js';
import { parseOptions, print, readModelsConfigFrom } from './common.js';

const USAGE = 'usage: sluice read-models run | serve | rebuild <name> | status [--json]';

export async function readModelsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'run':
      return run(rest);
    case 'serve':
      return serve(rest);
    case 'rebuild':
      return rebuild(rest);
    case 'status':
      return status(rest);
    default:
      process.stderr.write(`sluice: unknown read-models command "${sub ?? ''}". ${USAGE}\n`);
      return 2;
  }
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {});
  const cfg = readModelsConfigFrom(values);
  const log = createLogger(cfg.logLevel);
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    log.info({ module: 'read-models', signal: sig }, 'stopping after the batch in progress');
    abort.abort();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  let api: QueryApi | null = null;
  // One registry for the process: the daemon's metrics, the API's and the process's own, on the
  // API's /metrics.
  const registry = createMetricsRegistry({ processMetrics: true });
  const metrics = new ReadModelMetrics(registry);
  try {
    // The API starts once the models are checked and built and this process holds the writer lock.
    await runReadModels(
      cfg,
      log,
      abort.signal,
      undefined,
      async () => {
        api = await startApi(cfg, registry);
        if (api) log.info({ module: 'query-api', url: api.url }, 'query API listening');
      },
      metrics,
    );
  } finally {
    await (api as QueryApi | null)?.close();
    log.flush?.();
  }
  return 0;
}

/** The query API on readModelsHttpPort (SLUICE_HTTP_PORT); null when the port is 0. */
async function startApi(cfg: ReadModelsConfig, registry?: Registry): Promise<QueryApi | null> {
  if (cfg.readModelsHttpPort === 0) return null;
  return startQueryApi({
    readDatabaseUrl: cfg.readDatabaseUrl,
    readModelsSchema: cfg.readModelsSchema,
    readModels: cfg.readModels,
    fenceTimeoutMs: cfg.queryFenceTimeoutMs,
    port: cfg.readModelsHttpPort,
    heartbeatRequests: cfg,
    ...(registry ? { registry } : {}),
  });
}

/** `sluice read-models serve`: the query API alone (any number of processes; the daemon writes). */
async function serve(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {});
  const cfg = readModelsConfigFrom(values);
  const log = createLogger(cfg.logLevel);
  if (cfg.readModelsHttpPort === 0) {
    process.stderr.write(
      'sluice: read-models serve needs a port: SLUICE_HTTP_PORT is 0. Set it to a free port.\n',
    );
    return 2;
  }
  const api = (await startApi(cfg))!;
  log.info({ module: 'query-api', url: api.url }, 'query API listening');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await api.close();
  log.flush?.();
  return 0;
}

async function rebuild(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, {}, true);
  if (positionals.length !== 1) {
    process.stderr.write(`sluice: name one read model to rebuild. ${USAGE}\n`);
    return 2;
  }
  const cfg = readModelsConfigFrom(values);
  const started = Date.now();
  const r = await rebuildReadModel(cfg, positionals[0]!, silentLogger(), (line) => print(line));
  print(
    `read model ${positionals[0]} rebuilt by ${r.by}: ${r.rows ?? '?'} rows in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { json: { type: 'boolean' } });
  const cfg = readModelsConfigFrom(values);
  const s = await collectReadModelsStatus(cfg);
  if (values.json) {
    print(JSON.stringify(s, null, 2));
    return 0;
  }
  print(`facts ${s.facts.stream}: last seq ${s.facts.lastSeq}, lsn ${s.facts.lsn}`);
  if (s.models.length === 0) print('no read model has been built yet (start "sluice read-models run")');
  for (const m of s.models) {
    const rows = m.rows === null ? '' : `${m.rows} rows, `;
    const pending = m.rebuildPending ? ', rebuild pending' : '';
    print(
      `${m.name}: ${rows}seq ${m.streamSeq}, lsn ${m.lsn}, lag ${m.lagBytes} bytes / ${m.lagSeconds.toFixed(1)} s${pending}`,
    );
  }
  return 0;
}
