/**
 * The connector's HTTP endpoints (observability/http-server.ts): /healthz (process alive), /readyz
 * (a session is streaming: PostgreSQL and NATS both reachable — or, with `ha: on`, the replica
 * stands by while another one leads; 503 while the connector waits out an outage) and /metrics (Prometheus text of the process's registry).
 */
import { startObservabilityServer, type ObservabilityServer } from '../../observability/http-server.js';
import type { ConnectorStatus } from '../ports.js';
import type { Metrics } from './metrics.js';
import { ErrorCodes, SluiceError } from '../errors.js';

/** What the endpoints read of the connector (connector.ts `Connector`). */
export interface Observed {
  readonly status: ConnectorStatus;
  readonly metrics: Metrics;
}

export async function startHttpServer(port: number, connector: Observed): Promise<ObservabilityServer> {
  return startObservabilityServer({
    port,
    registry: connector.metrics.registry,
    readiness: () => ({
      // A standby replica (`ha: on`) is ready: it is doing its job, waiting to take over.
      ready: connector.status.state === 'streaming' || connector.status.state === 'standby',
      body: {
        state: connector.status.state,
        leader: connector.status.leader,
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
