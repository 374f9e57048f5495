/** `sluice run`: the connector daemon. SIGTERM/SIGINT drain in-flight publishes and exit 0. */
import { Connector } from '../../connector/connector.js';
import { createLogger } from '../../connector/logger.js';
import { startHttpServer } from '../../connector/observability/http-server.js';
import { startStatusPoller } from '../../connector/status-poller.js';
import { Metrics } from '../../connector/observability/metrics.js';
import { createMetricsRegistry } from '../../observability/metrics-registry.js';
import { configFrom, parseOptions } from './common.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {});
  const cfg = configFrom(values);
  const log = createLogger(cfg.logLevel);
  // One registry for the process: its own metrics (CPU, memory, event loop) and the connector's.
  const registry = createMetricsRegistry({ processMetrics: true });
  const metrics = new Metrics({
    prefix: cfg.prefix,
    retainedWalWarnBytes: cfg.retainedWalWarnBytes,
    registry,
  });
  const connector = new Connector(cfg, log, metrics);
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    log.info({ signal: sig }, 'stopping: draining in-flight publishes');
    abort.abort();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  const server = cfg.httpPort ? await startHttpServer(cfg.httpPort, connector) : null;
  const poller = startStatusPoller(cfg, connector.metrics, log);
  try {
    await connector.run(abort.signal);
  } finally {
    poller.stop();
    await server?.close();
    log.flush?.();
  }
  return 0;
}
