/**
 * `sluice teardown`: drops the replication slot (it pins WAL while nobody reads it) and the
 * publications; with --streams also the JetStream streams and Sluice's KV buckets.
 */
import { connectNats } from '../../connector/nats-connection.js';
import { silentLogger } from '../../connector/logger.js';
import { connectSql } from '../../connector/source/sql-connection.js';
import { publicationNames } from '../../connector/source/publications.js';
import { quoteIdent } from '../../connector/source/sql.js';
import { slotInfo } from '../../connector/source/slot.js';
import { manager } from '../../connector/sink/streams.js';
import { streamNames } from '../../schemas/subjects.js';
import { schemaBucketName } from '../../connector/sink/schema-store.js';
import { snapshotBucketName } from '../../connector/sink/snapshot-store.js';
import { largeBucketName } from '../../connector/sink/large-events.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import { configFrom, parseOptions, print } from './common.js';

export async function teardownCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { streams: { type: 'boolean' } });
  const cfg = configFrom(values);
  const sql = await connectSql(cfg.databaseUrl, 'sluice-teardown');
  try {
    const slot = await slotInfo(sql, cfg.slot);
    if (slot?.active) {
      throw new SluiceError(
        ErrorCodes.slotInUse,
        `replication slot ${cfg.slot} is in use by process ${slot.activePid}.`,
        {
          hint: 'Stop the running connector first.',
        },
      );
    }
    if (slot) {
      await sql.query('SELECT pg_drop_replication_slot($1)', [cfg.slot]);
      print(`dropped replication slot ${cfg.slot}`);
    } else {
      print(`replication slot ${cfg.slot} does not exist`);
    }
    for (const pub of publicationNames(cfg.publication)) {
      const r = await sql.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub]);
      if (r.rowCount) {
        await sql.query(`DROP PUBLICATION ${quoteIdent(pub)}`);
        print(`dropped publication ${pub}`);
      }
    }
  } finally {
    await sql.end();
  }
  if (values.streams) {
    const nc = await connectNats(cfg, silentLogger(), 'sluice-teardown');
    try {
      const jsm = await manager(nc);
      const names = streamNames(cfg.prefix);
      for (const s of [
        names.facts,
        names.deltas,
        names.events,
        names.dlq,
        `KV_${schemaBucketName(cfg.prefix)}`,
        `KV_${snapshotBucketName(cfg.prefix)}`,
        `OBJ_${largeBucketName(cfg.prefix)}`,
      ]) {
        try {
          await jsm.streams.delete(s);
          print(`deleted stream ${s}`);
        } catch {
          print(`stream ${s} does not exist`);
        }
      }
    } finally {
      await nc.close();
    }
  }
  return 0;
}
