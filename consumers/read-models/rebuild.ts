/**
 * `sluice read-models rebuild <name>`: when no daemon runs, this process takes the writer lock and
 * rebuilds the model from the replica itself; when a daemon runs, it records the request in the
 * bookkeeping table and waits until the daemon has swapped the new table in.
 */
import type { ReadModelsConfig } from './config.js';
import { ReadModelError, ReadModelErrorCodes } from './errors.js';
import { openSession, type ReadModelsLogger } from './daemon.js';
import { ReadDb } from './read-db.js';
import { BOOKKEEPING_SCHEMA } from './maintainer.js';
import { quoteIdent } from './replica-table.js';

/** Polling interval while waiting for the daemon, in milliseconds. */
const POLL_MS = 250;

export async function rebuildReadModel(
  cfg: ReadModelsConfig,
  name: string,
  log: ReadModelsLogger,
  progress: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ rows: number | null; by: 'this process' | 'the daemon' }> {
  if (!cfg.readModels.some((m) => m.name === name))
    throw new ReadModelError(ReadModelErrorCodes.unknownModel, `there is no read model named "${name}".`, {
      hint: `Configured: ${cfg.readModels.map((m) => m.name).join(', ') || 'none'}.`,
    });
  let session;
  try {
    session = await openSession(cfg, log);
  } catch (e) {
    if (!(e instanceof ReadModelError) || e.code !== ReadModelErrorCodes.busy) throw e;
  }
  if (session) {
    try {
      progress(`rebuilding ${name} from the replica…`);
      const m = session.models.find((x) => x.def.name === name)!;
      return { rows: await session.maintainer.rebuild(m), by: 'this process' };
    } finally {
      await session.close();
    }
  }
  const db = await ReadDb.connect(cfg.readDatabaseUrl, 'sluice-read-models-rebuild');
  try {
    const t = quoteIdent(BOOKKEEPING_SCHEMA);
    const [req] = await db.query<{ at: Date }>(
      `UPDATE ${t}.positions SET rebuild_requested_at = clock_timestamp() WHERE name = $1 RETURNING rebuild_requested_at AS at`,
      [name],
    );
    if (!req)
      throw new ReadModelError(
        ReadModelErrorCodes.unknownModel,
        `the running daemon does not maintain "${name}" yet.`,
        {
          hint: 'Restart "sluice read-models run" with the new configuration: it builds new models at start.',
        },
      );
    progress(`rebuild of ${name} requested; the running daemon builds it from the replica…`);
    for (;;) {
      if (signal?.aborted) return { rows: null, by: 'the daemon' };
      const [r] = await db.query<{ done: boolean }>(
        `SELECT coalesce(rebuilt_at >= rebuild_requested_at, false) AS done FROM ${t}.positions WHERE name = $1`,
        [name],
      );
      if (r?.done) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const [c] = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${quoteIdent(cfg.readModelsSchema)}.${quoteIdent(name)}`,
    );
    return { rows: Number(c!.n), by: 'the daemon' };
  } finally {
    await db.close();
  }
}
