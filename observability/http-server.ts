/**
 * The observability endpoints every Sluice daemon serves on its HTTP port: `/healthz` (the process
 * is alive), `/readyz` (the daemon's own readiness: 200 or 503 with a JSON body saying why) and
 * `/metrics` (Prometheus text of the process's registry). The connector (`sluice run`) and the
 * consumer runtime (`sluice consumers run`) differ only in what "ready" means and in the error
 * they raise for a busy port, so both are passed in.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from './metrics-registry.js';

/** What `/readyz` answers: 200 when `ready`, else 503; `body` is sent as JSON. */
export interface Readiness {
  readonly ready: boolean;
  readonly body: unknown;
}

export interface ObservabilityServerOptions {
  /** TCP port; 0 picks a free one (see `ObservabilityServer.port`). */
  readonly port: number;
  /** Interface to listen on. Default: every interface. */
  readonly host?: string;
  /** The process's registry, rendered at each scrape of `/metrics`. */
  readonly registry: Registry;
  /** The daemon's readiness, asked at each request of `/readyz`. */
  readonly readiness: () => Readiness;
  /**
   * The error to reject with when the port is in use (the daemon's own error class, naming the
   * setting that chooses the port). Other listen errors are rethrown as they are.
   */
  readonly portInUse: (port: number, cause: Error) => Error;
}

export interface ObservabilityServer {
  /** The port listened on. */
  readonly port: number;
  /** Stops accepting connections and closes idle ones; idempotent. */
  close(): Promise<void>;
}

/** Starts the endpoints; resolves once the port is bound. */
export async function startObservabilityServer(
  opts: ObservabilityServerOptions,
): Promise<ObservabilityServer> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/healthz')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url.startsWith('/readyz')) {
      const r = opts.readiness();
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(r.body) + '\n');
    } else if (url.startsWith('/metrics')) {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? opts.portInUse(opts.port, e) : e),
    );
    const done = () => resolve();
    if (opts.host) server.listen(opts.port, opts.host, done);
    else server.listen(opts.port, done);
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : opts.port,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
