/** `sluice run`: the connector daemon. SIGTERM/SIGINT drain in-flight publishes and exit 0. */
import { Connector } from '../../connector/connector.js';
import { createLogger } from '../../connector/logger.js';
import { startHttpServer } from '../../connector/observability/http-server.js';
import { startStatusPoller } from '../../connector/observability/status-poller.js';
import { configFrom, parseOptions } from './common.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {});
  const cfg = configFrom(values);
  const log = createLogger(cfg.logLevel);
  const connector = new Connector(cfg, log);
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
    server?.close();
    log.flush?.();
  }
  return 0;
}
