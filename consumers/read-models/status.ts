/** What `sluice read-models status` shows: per model, rows, the source position it reflects, lag. */
import type { ReadModelsConfig } from './config.js';
import { FactSource } from './fact-source.js';
import { ReadDb } from './read-db.js';
import { BOOKKEEPING_SCHEMA, REPLICA_ROW } from './maintainer.js';
import { quoteIdent } from './replica-table.js';
import { formatLsn, parseLsn } from '../../schemas/versions.js';

/** Status of one read model (or of the replica, name `@replica`). */
export interface ReadModelStatus {
  name: string;
  /** Rows in the model table (null for the replica or a model not built yet). */
  rows: number | null;
  /** Last applied sequence of the facts stream. */
  streamSeq: number;
  /** Commit LSN of the last source transaction reflected (PostgreSQL's X/Y form). */
  lsn: string;
  commitTime: string | null;
  /** Bytes of WAL between the newest fact and the position reflected. */
  lagBytes: number;
  /** Seconds between the newest fact's arrival and the commit reflected; 0 when caught up. */
  lagSeconds: number;
  appliedAt: string | null;
  rebuildPending: boolean;
}

export interface ReadModelsStatus {
  facts: { stream: string; lastSeq: number; lsn: string };
  models: ReadModelStatus[];
}

export async function collectReadModelsStatus(cfg: ReadModelsConfig): Promise<ReadModelsStatus> {
  const db = await ReadDb.connect(cfg.readDatabaseUrl, 'sluice-read-models-status');
  const facts = await FactSource.connect({
    ...cfg,
    name: 'sluice-read-models-status',
  });
  try {
    const head = await facts.factsHead();
    const exists = await db.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [
      `${BOOKKEEPING_SCHEMA}.positions`,
    ]);
    const rows = exists[0]!.ok
      ? await db.query<{
          name: string;
          stream_seq: string;
          lsn: string;
          commit_time: Date | null;
          applied_at: Date | null;
          pending: boolean;
        }>(
          `SELECT name, stream_seq, lsn::text AS lsn, commit_time, applied_at,
             coalesce(rebuild_requested_at > coalesce(rebuilt_at, '-infinity'), false) AS pending
           FROM ${quoteIdent(BOOKKEEPING_SCHEMA)}.positions ORDER BY name`,
        )
      : [];
    const models: ReadModelStatus[] = [];
    for (const r of rows) {
      let count: number | null = null;
      if (r.name !== REPLICA_ROW) {
        const [t] = await db.query<{ t: string | null }>(
          `SELECT to_regclass(format('%I.%I', $1::text, $2::text))::text AS t`,
          [cfg.readModelsSchema, r.name],
        );
        if (t?.t) count = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.t}`))[0]!.n);
      }
      const lsn = parseLsn(r.lsn);
      const behind = Number(r.stream_seq) < head.seq;
      models.push({
        name: r.name,
        rows: count,
        streamSeq: Number(r.stream_seq),
        lsn: r.lsn,
        commitTime: r.commit_time?.toISOString() ?? null,
        lagBytes: head.lsn > lsn ? Number(head.lsn - lsn) : 0,
        lagSeconds:
          behind && head.time && r.commit_time
            ? Math.max(0, (head.time.getTime() - r.commit_time.getTime()) / 1000)
            : 0,
        appliedAt: r.applied_at?.toISOString() ?? null,
        rebuildPending: r.pending,
      });
    }
    return { facts: { stream: facts.streams.facts, lastSeq: head.seq, lsn: formatLsn(head.lsn) }, models };
  } finally {
    await facts.close();
    await db.close();
  }
}
