/**
 * Polls the slot's lag (pg_current_wal_lsn() − confirmed_flush_lsn, the only trustworthy measure;
 * keepalive timestamps are not) into the metrics, every few seconds, on its own connection.
 */
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from './metrics.js';
import { connectSql, slotInfo } from '../source/setup.js';

export function startStatusPoller(
  cfg: Config,
  metrics: Metrics,
  log: Logger,
  intervalMs = 5000,
): { stop(): void } {
  let client: pg.Client | null = null;
  let stopped = false;
  const tick = async () => {
    try {
      client ??= await connectSql(cfg.databaseUrl, 'sluice-status');
      const s = await slotInfo(client, cfg.slot);
      metrics.lagBytes = s?.lagBytes ?? 0;
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
