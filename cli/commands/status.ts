/** `sluice status`: slot lag, confirmed position, per-stream counts, snapshot progress. */
import { connectNats } from '../../connector/nats-connection.js';
import { silentLogger } from '../../connector/logger.js';
import { collectStatus } from '../../connector/status.js';
import { configFrom, parseOptions, print } from './common.js';

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { json: { type: 'boolean' } });
  const cfg = configFrom(values);
  const nc = await connectNats(cfg, silentLogger(), 'sluice-status');
  try {
    const s = await collectStatus(cfg, nc);
    if (values.json) {
      print(JSON.stringify(s, null, 2));
      return 0;
    }
    print(`source ${s.source}`);
    if (s.slot) {
      print(
        `slot ${s.slot.name}: ${s.slot.active ? 'active' : 'inactive'}, confirmed ${s.slot.confirmedFlushLsn}, lag ${s.slot.lagBytes ?? 0} bytes, retained WAL ${s.slot.retainedBytes ?? 0} bytes`,
      );
    } else {
      print(`slot ${cfg.slot}: does not exist (start "sluice run" to create it)`);
    }
    if (cfg.ha === 'on')
      print(
        s.leader
          ? `leader ${s.leader.holder} (since ${s.leader.since})`
          : 'leader: none (no replica holds the lease)',
      );
    for (const w of s.warnings) print(`warning: ${w}`);
    for (const st of s.streams) {
      print(
        `stream ${st.name}: ${st.messages} messages, ${st.bytes} bytes, ${st.subjects} subjects, last seq ${st.lastSeq}`,
      );
    }
    for (const sn of s.snapshots) {
      const pct = sn.rowsTotal ? Math.min(100, Math.round((100 * sn.rowsDone) / sn.rowsTotal)) : 0;
      const eta = sn.etaSec !== null ? `, ETA ${sn.etaSec} s` : '';
      print(
        `snapshot ${sn.table}: ${sn.status}, ${sn.rowsDone}/${sn.rowsTotal} rows (${pct}%), ${sn.rate} rows/s${eta}`,
      );
    }
    return 0;
  } finally {
    await nc.close();
  }
}
