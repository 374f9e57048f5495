/**
 * What `sluice consumers run` runs: several consumers in one process, their /healthz, /readyz and
 * /metrics, and a graceful stop (every running handler finishes, queued events go back).
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { renderMetrics } from './consumer-metrics.js';
import { ConsumerRunner } from './consumer-runner.js';
import type { ConsumerDefinition } from './define-consumer.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import type { JetStreamClient } from './jetstream-client.js';

export interface HostOptions {
  client: JetStreamClient;
  prefix: string;
  log: Logger;
  /** HTTP port of /healthz, /readyz, /metrics; 0 = none. */
  httpPort: number;
}

/** Runs the consumers until `signal` aborts; rejects when one of them fails. */
export async function hostConsumers(
  defs: readonly ConsumerDefinition[],
  opts: HostOptions,
  signal: AbortSignal,
): Promise<void> {
  const runners = defs.map(
    (d) => new ConsumerRunner(d, { client: opts.client, prefix: opts.prefix, log: opts.log }),
  );
  const server = opts.httpPort ? await startHttp(opts.httpPort, runners) : null;
  const stopAll = new AbortController();
  const onAbort = () => stopAll.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) stopAll.abort();
  try {
    // One consumer failing stops the others (gracefully) and the process exits non-zero: the
    // supervisor restarts it, and every durable consumer resumes where it acknowledged.
    const results = await Promise.allSettled(
      runners.map((r) =>
        r.run(stopAll.signal).catch((err: unknown) => {
          stopAll.abort();
          throw err;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    signal.removeEventListener('abort', onAbort);
    server?.close();
  }
}

async function startHttp(port: number, runners: readonly ConsumerRunner[]): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/healthz')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url.startsWith('/readyz')) {
      const states = Object.fromEntries(runners.map((r) => [r.def.name, r.state]));
      const ok = runners.every((r) => r.state === 'running');
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ consumers: states }) + '\n');
    } else if (url.startsWith('/metrics')) {
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(renderMetrics(runners.map((r) => r.metrics)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new ConsumerError(ConsumerErrorCodes.config, `HTTP port ${port} is already in use.`, {
              hint: 'Set SLUICE_CONSUMERS_HTTP_PORT to a free port (0 disables the HTTP endpoints).',
              cause: e,
            })
          : e,
      ),
    );
    server.listen(port, () => resolve());
  });
  return server;
}
