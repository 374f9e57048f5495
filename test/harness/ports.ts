import { createServer } from 'node:net';

// Ports handed out by this process, so two servers of one test file never get the same one. Between
// this check and the server's bind another process may still take the port: the servers retry their
// first start on a new port when the bind fails.
const handedOut = new Set<number>();

/** A TCP port on 127.0.0.1 that was free a moment ago and was not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr !== null ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort(): no free loopback port found after 50 attempts');
}
