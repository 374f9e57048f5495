/**
 * Which nats-server the suite runs against. `npm test` runs its second pass on nats-server 2.10
 * (`SLUICE_NATS_SERVER` = the binary scripts/fetch-nats-server.sh unpacks,
 * `SLUICE_NATS_SERVER_VERSION=2.10.27`): this file fails that pass when the server the harness
 * actually starts is another version, so a missing or wrong binary cannot turn the 2.10 run into a
 * second 2.9 run unnoticed.
 */
import { execFileSync } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { NATS_SERVER_BIN, closeAll, startNats } from '../harness/index.js';

afterAll(async () => {
  await closeAll();
});

/** The version `nats-server --version` prints (`nats-server: v2.10.27` → `2.10.27`). */
function binaryVersion(): string {
  const out = execFileSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  const m = /v(\d+\.\d+\.\d+)/.exec(out);
  if (!m) throw new Error(`${NATS_SERVER_BIN} --version printed no version: ${out}`);
  return m[1]!;
}

describe('nats-server version', () => {
  it('is the binary the harness names, and the one asked for with SLUICE_NATS_SERVER_VERSION', async () => {
    const fromBinary = binaryVersion();
    const nats = await startNats();
    const nc = await connect({ servers: nats.url });
    const fromServer = nc.info?.version;
    await nc.close();
    // The running server is the binary the harness resolved (SLUICE_NATS_SERVER, PATH, Debian's).
    expect(fromServer).toBe(fromBinary);
    const wanted = process.env.SLUICE_NATS_SERVER_VERSION;
    console.info(
      `nats-server ${fromServer} from ${NATS_SERVER_BIN}${wanted ? ` (asked for ${wanted})` : ''}`,
    );
    if (wanted) {
      expect(
        fromServer,
        `SLUICE_NATS_SERVER_VERSION=${wanted} but ${NATS_SERVER_BIN} runs ${fromServer}: run scripts/fetch-nats-server.sh and set SLUICE_NATS_SERVER to the path it prints`,
      ).toBe(wanted);
    }
  });
});
