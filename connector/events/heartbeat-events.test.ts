/**
 * Position heartbeats with plain data: heartbeat transactions through the change processor and a
 * recording sink; when a heartbeat event is published, at which position, and after what.
 */
import { describe, expect, it } from 'vitest';
import { ChangeProcessor } from './change-processor.js';
import { HeartbeatPublisher } from './heartbeat-events.js';
import { MemorySchemaRegistry } from './tables.js';
import { RowCache } from './row-cache.js';
import type { Catalog, ChangeSink, OutMessage, TxTicket } from '../ports.js';
import type { PgoutputMessage } from '../source/pgoutput.js';
import { HEARTBEAT_MESSAGE_PREFIX, heartbeatContent } from '../source/heartbeat-emitter.js';
import { silentLogger } from '../logger.js';
import { HeartbeatEvent } from '../../schemas/events.js';
import { parseVersion, type Position } from '../../schemas/versions.js';

const catalog: Catalog = {
  async loadTypes(oids) {
    return new Map(
      oids.map(
        (o) =>
          [
            o,
            {
              oid: o,
              schema: 'pg_catalog',
              name: 'int4',
              kind: 'b',
              category: 'N',
              delim: ',',
              element: null,
              base: null,
            },
          ] as const,
      ),
    );
  },
  async describe() {
    return { identity: ['id'], notNull: new Set(['id']) };
  },
};

/** Records what is published, in order, with the acknowledgement state at the time. */
class RecordingSink implements ChangeSink {
  readonly deltas: OutMessage[] = [];
  readonly stats = { published: [0, 0] };
  /** Messages not yet acknowledged; drained() resolves once ack() brings it to 0. */
  unacked = 0;
  readonly log: string[] = [];
  #drainWaiters: (() => void)[] = [];
  capacity() {
    return undefined;
  }
  drained() {
    this.log.push('drained?');
    if (this.unacked === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
  }
  ack() {
    this.unacked = 0;
    this.log.push('acked');
    for (const w of this.#drainWaiters.splice(0)) w();
  }
  begin() {
    return { endLsn: null };
  }
  commit() {}
  publishChange(_tx: TxTicket, delta: OutMessage | null, fact: OutMessage | null) {
    if (delta) this.publishDelta(_tx, delta);
    if (fact) this.stats.published[0]!++;
  }
  publishShared() {
    throw new Error('no domain events in these tests');
  }
  publishDelta(_tx: TxTicket, msg: OutMessage) {
    this.deltas.push(msg);
    this.stats.published[1]!++;
    this.unacked++;
    this.log.push(`publish ${msg.subject}`);
  }
}

function setup(lastDelta: Position | null = null) {
  const sink = new RecordingSink();
  let heartbeats: HeartbeatPublisher | null = null;
  const p = new ChangeProcessor({
    prefix: 'cdc',
    source: 'shop',
    sink,
    catalog,
    registry: new MemorySchemaRegistry(),
    facts: { lastFact: async () => null, purgeTable: async () => undefined },
    cache: new RowCache(1000),
    lastFact: null,
    lastDelta,
    log: silentLogger(),
    onLogicalMessage: (m) => (HeartbeatPublisher.isHeartbeat(m) ? heartbeats!.onMessage(m) : undefined),
  });
  heartbeats = new HeartbeatPublisher({ prefix: 'cdc', source: 'shop', slot: 'sluice', target: p, sink });
  return { p, sink, heartbeats };
}

const relation: PgoutputMessage = {
  tag: 'relation',
  relationId: 1,
  schema: 'public',
  table: 't',
  replicaIdentity: 'default',
  columns: [{ isKey: true, name: 'id', typeOid: 23, typeMod: -1 }],
};

async function tx(p: ChangeProcessor, lsn: bigint, body: PgoutputMessage[]): Promise<void> {
  await p.handle({ tag: 'begin', finalLsn: lsn, commitTime: 0n, xid: Number(lsn) });
  for (const m of body) await p.handle(m);
  await p.handle({ tag: 'commit', flags: 0, commitLsn: lsn, endLsn: lsn + 8n, commitTime: 0n });
}

const beat = (slot = 'sluice', requested = false): PgoutputMessage => ({
  tag: 'message',
  transactional: true,
  lsn: 0n,
  prefix: HEARTBEAT_MESSAGE_PREFIX,
  content: Buffer.from(heartbeatContent(slot, requested)),
});
const insert = (id: string): PgoutputMessage => ({ tag: 'insert', relationId: 1, newTuple: [id] });

describe('position heartbeats', () => {
  it('publishes an idle heartbeat at its commit position, a valid event with a deterministic id', async () => {
    const { p, sink, heartbeats } = setup();
    await tx(p, 0x1000n, [beat()]);
    expect(sink.deltas).toHaveLength(1);
    const m = sink.deltas[0]!;
    expect(m.subject).toBe('cdc.heartbeat');
    const ev = HeartbeatEvent.parse(JSON.parse(m.body));
    expect(ev.type).toBe('io.sluice.heartbeat');
    expect(ev.id).toBe(m.id);
    expect(ev.data).toMatchObject({ lsn: '0/1000', version: '0000000000001000-ffffffff' });
    expect(parseVersion(ev.data.version)).toEqual({ commitLsn: 0x1000n, commitIdx: 0xffffffff });
    expect(m.id).toBe('shop:0000000000001000-ffffffff:heartbeat');
    expect(heartbeats.stats).toEqual({ received: 1, published: 1 });
  });

  it.each([
    {
      name: 'every heartbeat while the tables are idle',
      txs: [[beat()], [beat()], [beat()]],
      want: ['cdc.heartbeat', 'cdc.heartbeat', 'cdc.heartbeat'],
    },
    {
      name: 'none right after changes (their marker carries the position), then again when idle',
      txs: [[relation, insert('1')], [beat()], [beat()]],
      // (the table's first description is also its first schema version: a schema event)
      want: ['cdc.schema.public.t', 'cdc.delta.public.t.insert.1', 'cdc.tx.4096', 'cdc.heartbeat'],
    },
    {
      name: 'a requested heartbeat right after changes (a fence waits for a position past them)',
      txs: [[relation, insert('1')], [beat('sluice', true)], [beat()]],
      want: [
        'cdc.schema.public.t',
        'cdc.delta.public.t.insert.1',
        'cdc.tx.4096',
        'cdc.heartbeat',
        'cdc.heartbeat',
      ],
    },
    {
      name: "not another connector's heartbeat, requested or not (another slot on the same database)",
      txs: [[beat('other')], [beat('other', true)]],
      want: [],
    },
    {
      name: "not another connector's heartbeat (another slot on the same database)",
      txs: [[beat('other')], [beat('other')]],
      want: [],
    },
  ])('publishes $name', async ({ txs, want }) => {
    const { p, sink } = setup();
    let lsn = 0x1000n;
    for (const body of txs) {
      await tx(p, lsn, body);
      sink.ack();
      lsn += 0x1000n;
    }
    expect(sink.deltas.map((m) => m.subject)).toEqual(want);
  });

  it('skips a heartbeat already stored (replay after a restart), publishes the next', async () => {
    const { p, sink } = setup({ commitLsn: 0x1000n, commitIdx: 0xffffffff });
    await tx(p, 0x1000n, [beat()]);
    expect(sink.deltas).toEqual([]);
    await tx(p, 0x2000n, [beat()]);
    expect(sink.deltas.map((m) => m.id)).toEqual(['shop:0000000000002000-ffffffff:heartbeat']);
  });

  it('waits until everything published before it is acknowledged', async () => {
    const { p, sink } = setup();
    await tx(p, 0x1000n, [beat()]);
    sink.unacked = 3; // earlier messages still in flight (e.g. facts trailing their deltas)
    sink.log.length = 0;
    const done = tx(p, 0x2000n, [beat()]);
    await new Promise((r) => setImmediate(r));
    expect(sink.log).toEqual(['drained?']);
    sink.ack();
    await done;
    expect(sink.log).toEqual(['drained?', 'acked', 'publish cdc.heartbeat']);
  });
});
