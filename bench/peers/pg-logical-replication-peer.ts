/**
 * The pipeline a TypeScript user would write by hand instead of running Sluice, as a comparison
 * peer for the bench (never used by Sluice itself): `pg-logical-replication` (pgoutput) in its
 * documented usage with manual acknowledgement after the handler (`acknowledge.auto: false`,
 * `timeoutSeconds: 0`, `flowControl` on so an async handler holds the stream back), publishing a
 * fact and a delta per change plus a commit marker per transaction with nats.js `js.publish()`,
 * with `msgID` set and a FIFO window of in-flight publish promises. A transaction's commit LSN is
 * acknowledged once every publish up to its commit marker has been acknowledged by JetStream.
 *
 * Values are what the library hands over (pg's global type parsers: int8 and numeric as strings,
 * timestamptz as Date), serialised with JSON.stringify — what a straightforward user gets.
 *
 * Run as a child process by bench/scenarios/backlog-drain.ts, so its CPU time is its own:
 *   node dist/bench/peers/pg-logical-replication-peer.js
 * configured by PEER_DATABASE_URL, PEER_NATS_URL, PEER_SLOT, PEER_PUBLICATION, PEER_PREFIX,
 * PEER_WINDOW (default 256) and PEER_NO_ASYNC_TRACES=1 (nats.js `noAsyncTraces` connection option).
 * Stops on SIGTERM.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, type PubAck } from '@nats-io/jetstream';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: the bench sets it when it starts the peer`);
  return v;
}

const databaseUrl = need('PEER_DATABASE_URL');
const natsUrl = need('PEER_NATS_URL');
const slot = need('PEER_SLOT');
const publication = need('PEER_PUBLICATION');
const prefix = need('PEER_PREFIX');
const windowSize = Number(process.env.PEER_WINDOW ?? '256');
const noAsyncTraces = process.env.PEER_NO_ASYNC_TRACES === '1';

const nc = await connect({ servers: natsUrl, ...(noAsyncTraces ? { noAsyncTraces: true } : {}) });
const js = jetstream(nc, { timeout: 30_000 });

const service = new LogicalReplicationService(
  { connectionString: databaseUrl },
  { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
);
const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });

/** In-flight publishes, oldest first; `ackLsn` is set on a transaction's commit marker. */
const inFlight: { ack: Promise<PubAck>; ackLsn: string | null }[] = [];
let acked = '0/0';
let txLsn = '';
let txCommitTime = '';
let txXid = 0;
let n = 0;

async function settleOldest(): Promise<void> {
  const oldest = inFlight.shift()!;
  await oldest.ack;
  if (oldest.ackLsn) {
    acked = oldest.ackLsn;
    await service.acknowledge(acked);
  }
}

service.on('error', (e: Error) => {
  process.stderr.write(`peer: ${e.message}\n`);
  process.exit(1);
});
service.on('heartbeat', (_lsn: string, _ts: number, shouldRespond: boolean) => {
  if (shouldRespond) void service.acknowledge(acked);
});
service.on('data', async (_lsn: string, msg: Pgoutput.Message) => {
  if (msg.tag === 'begin') {
    txLsn = msg.commitLsn ?? _lsn;
    txCommitTime = msg.commitTime.toString();
    txXid = msg.xid;
    n = 0;
    return;
  }
  if (msg.tag === 'insert' || msg.tag === 'update' || msg.tag === 'delete') {
    const row = msg.tag === 'delete' ? (msg.old ?? msg.key ?? {}) : msg.new;
    const table = `${msg.relation.schema}.${msg.relation.name}`;
    const key: Record<string, unknown> = {};
    for (const k of msg.relation.keyColumns) key[k] = row[k];
    const keyToken = msg.relation.keyColumns.map((k) => String(row[k])).join('_');
    const version = `${txLsn}:${n++}`;
    const tx = { xid: txXid, lsn: txLsn, commitTime: txCommitTime };
    const delta = {
      op: msg.tag,
      table,
      key,
      before: msg.tag === 'insert' ? null : (msg.old ?? null),
      after: msg.tag === 'delete' ? null : row,
      tx,
    };
    const fact = {
      table,
      key,
      version,
      deleted: msg.tag === 'delete',
      row: msg.tag === 'delete' ? null : row,
      tx,
    };
    inFlight.push({
      ack: js.publish(
        `${prefix}.delta.${msg.relation.schema}.${msg.relation.name}.${msg.tag}`,
        JSON.stringify(delta),
        {
          msgID: `${version}:delta`,
        },
      ),
      ackLsn: null,
    });
    inFlight.push({
      ack: js.publish(
        `${prefix}.fact.${msg.relation.schema}.${msg.relation.name}.${keyToken}`,
        JSON.stringify(fact),
        {
          msgID: `${version}:fact`,
        },
      ),
      ackLsn: null,
    });
  } else if (msg.tag === 'commit') {
    const marker = { xid: txXid, lsn: txLsn, commitTime: txCommitTime, changes: n };
    inFlight.push({
      ack: js.publish(`${prefix}.tx.${txXid}`, JSON.stringify(marker), { msgID: `${txLsn}:tx` }),
      ackLsn: msg.commitEndLsn ?? _lsn,
    });
  }
  while (inFlight.length > windowSize) await settleOldest();
});

process.once('SIGTERM', () => {
  void (async () => {
    while (inFlight.length) await settleOldest().catch(() => undefined);
    await service.destroy();
    await nc.close();
    process.exit(0);
  })();
});

await service.subscribe(plugin, slot, '0/0');
