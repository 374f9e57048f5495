/**
 * /healthz (process alive), /readyz (a session is streaming: PostgreSQL and NATS both reachable;
 * 503 while the connector waits out an outage) and /metrics (Prometheus text of the process's
 * registry).
 */
import { createServer, type Server } from 'node:http';
import type { Connector } from '../connector.js';
import { ErrorCodes, SluiceError } from '../errors.js';

export async function startHttpServer(port: number, connector: Connector): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/healthz')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url.startsWith('/readyz')) {
      const ok = connector.status.state === 'streaming';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          state: connector.status.state,
          lastError: connector.status.lastError,
          lastErrorCode: connector.status.lastErrorCode,
        }) + '\n',
      );
    } else if (url.startsWith('/metrics')) {
      connector.metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': connector.metrics.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new SluiceError(ErrorCodes.config, `HTTP port ${port} is already in use.`, {
              hint: 'Set SLUICE_HTTP_PORT to a free port (0 disables the HTTP endpoints).',
              cause: e,
            })
          : e,
      ),
    );
    server.listen(port, () => resolve());
  });
  return server;
}
