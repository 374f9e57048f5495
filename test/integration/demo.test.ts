/**
 * `sluice demo` as a user runs it (a child process, stdout not a terminal): read-model rows and
 * integration events appear — checked in the reads database and the events stream themselves, not
 * only in its output — and SIGINT stops it with exit code 0, leaving no server running.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { eventually, readStream } from '../harness/index.js';
import { IntegrationEvent } from '../../schemas/integration-events.js';
import orderEvents from '../../examples/shop/enrichers/order-events.js';
import { tail } from './faults-helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let child: ReturnType<typeof spawn> | undefined;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('sluice demo', () => {
  it('shows read-model rows and integration events, and Ctrl-C leaves nothing running', async () => {
    const c = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/sluice.ts', 'demo', '--customers', '200', '--rate', '100'],
      { cwd: ROOT, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));

    const started = await eventually(
      () => {
        const pgLine = /PostgreSQL (\S+) \(pid (\d+)\), read models in (\S+)/.exec(out);
        const natsLine = /NATS\s+(\S+) \(pid (\d+)\)/.exec(out);
        if (!pgLine || !natsLine) throw new Error('servers not started');
        return {
          pgPid: Number(pgLine[2]),
          readsUrl: pgLine[3]!,
          natsUrl: natsLine[1]!,
          natsPid: Number(natsLine[2]),
        };
      },
      { timeout: 120_000, interval: 100, message: `the demo to start its servers:\n${tail(out)}` },
    );
    expect(alive(started.pgPid) && alive(started.natsPid)).toBe(true);

    // Its output: a plain line per second (no ANSI codes off a terminal) with rows and events.
    await eventually(
      () => {
        const line = out.split('\n').findLast((l) => l.startsWith('t='));
        const rows = /order_summary=(\d+) rows/.exec(line ?? '');
        const events = /integration events\/s=\d+ total=(\d+)/.exec(line ?? '');
        if (!rows || Number(rows[1]) === 0 || !events || Number(events[1]) === 0)
          throw new Error(`not yet: ${line}`);
        return true;
      },
      { timeout: 180_000, interval: 250, message: `read-model rows and integration events:\n${tail(out)}` },
    );
    expect(out).not.toContain('\x1b[');

    // The truth behind the output: the reads database and the events stream.
    const reads = new pg.Client({ connectionString: started.readsUrl });
    await reads.connect();
    const rows = await reads.query<{ n: string }>('SELECT count(*) AS n FROM read_models.order_summary');
    await reads.end();
    expect(Number(rows.rows[0]!.n)).toBeGreaterThan(0);
    const nc = await connect({ servers: started.natsUrl });
    const msgs = await readStream(nc, 'CDC_EVENTS', { filter: 'cdc.events.shop.>' });
    await nc.close();
    expect(msgs.length).toBeGreaterThan(0);
    const first = IntegrationEvent.parse(msgs[0]!.data);
    orderEvents.enricher.contracts[first.type.slice('shop.'.length)]!.parse(first.data);

    // The query API it prints answers, and a fence at the source's position now is met.
    const apiUrl = await eventually(
      () => /query API=(http:\/\/\S+)/.exec(out)?.[1] ?? Promise.reject(new Error('no query API yet')),
      { timeout: 60_000, interval: 250, message: `the query API URL:\n${tail(out)}` },
    );
    const openapi = await fetch(`${apiUrl}/read-models/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(JSON.stringify(await openapi.json())).toContain('order_summary');
    const page = await fetch(`${apiUrl}/read-models/order_summary?limit=1`);
    expect(page.status).toBe(200);

    c.kill('SIGINT');
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000).unref()),
    ]);
    expect(code, tail(out)).toBe(0);
    expect(out).toContain('stopped; temporary servers removed.');
    await eventually(
      () => {
        if (alive(started.pgPid) || alive(started.natsPid)) throw new Error('a server still runs');
        return true;
      },
      { timeout: 10_000, interval: 100, message: 'PostgreSQL and nats-server to be gone' },
    );
  }, 360_000);
});
