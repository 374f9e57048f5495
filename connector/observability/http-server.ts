/**
 * The connector's HTTP endpoints (observability/http-server.ts): /healthz (process alive), /readyz
 * (a session is streaming: PostgreSQL and NATS both reachable; 503 while the connector waits out an
 * outage) and /metrics (Prometheus text of the process's registry).
 */
import { startObservabilityServer, type ObservabilityServer } from '../../observability/http-server.js';
import type { Connector } from '../connector.js';
import { ErrorCodes, SluiceError } from '../errors.js';

export async function startHttpServer(port: number, connector: Connector): Promise<ObservabilityServer> {
  return startObservabilityServer({
    port,
    registry: connector.metrics.registry,
    readiness: () => ({
      ready: connector.status.state === 'streaming',
      body: {
        state: connector.status.state,
        lastError: connector.status.lastError,
        lastErrorCode: connector.status.lastErrorCode,
      },
    }),
    portInUse: (p, cause) =>
      new SluiceError(ErrorCodes.config, `HTTP port ${p} is already in use.`, {
        hint: 'Set SLUICE_HTTP_PORT to a free port (0 disables the HTTP endpoints).',
        cause,
      }),
  });
}
