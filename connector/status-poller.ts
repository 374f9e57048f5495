/**
 * Polls the slot's lag (pg_current_wal_lsn() − confirmed_flush_lsn, the only trustworthy measure;
 * keepalive timestamps are not) and retained WAL (− restart_lsn) into the metrics, every few
 * seconds, on its own connection; logs a warning when the retained WAL passes its threshold.
 */
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './observability/metrics.js';
import { connectSql, type SqlClient } from './source/sql-connection.js';
import { slotInfo } from './source/slot.js';
import { retainedWalWarning } from './status.js';

export function startStatusPoller(
  cfg: Config,
  metrics: Metrics,
  log: Logger,
  intervalMs = 5000,
): { stop(): void } {
  let client: SqlClient | null = null;
  let stopped = false;
  let warned = false;
  const tick = async () => {
    try {
      client ??= await connectSql(cfg.databaseUrl, 'sluice-status');
      const s = await slotInfo(client, cfg.slot);
      metrics.lagBytes = s?.lagBytes ?? 0;
      metrics.retainedWalBytes = s?.retainedBytes ?? 0;
      // One warning when the threshold is crossed, one line when it is back below.
      const warning = retainedWalWarning(s, cfg.retainedWalWarnBytes);
      if (warning && !warned) log.warn({ retainedBytes: s?.retainedBytes }, warning);
      if (!warning && warned)
        log.info({ retainedBytes: s?.retainedBytes }, 'retained WAL back below the threshold');
      warned = warning !== null;
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'status poll failed');
      await client?.end().catch(() => undefined);
      client = null;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      void client?.end().catch(() => undefined);
    },
  };
}
