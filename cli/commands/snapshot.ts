/**
 * `sluice snapshot <schema.table...>`: asks the running connector to (re-)snapshot tables, through
 * the snapshot bucket in NATS KV, and shows progress until done (a bar on a terminal).
 */
import { connectNats } from '../../connector/nats-connection.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import { silentLogger } from '../../connector/logger.js';
import { listSnapshots, openSnapshotBucket, requestSnapshot } from '../../connector/sink/snapshot-store.js';
import { configFrom, parseOptions, print } from './common.js';

export async function snapshotCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { 'no-wait': { type: 'boolean' } }, true);
  if (positionals.length === 0) {
    throw new SluiceError(ErrorCodes.config, 'sluice snapshot needs at least one table.', {
      hint: 'Example: sluice snapshot public.orders public.order_items',
    });
  }
  const tables = positionals.map((t) => (t.includes('.') ? t : `public.${t}`));
  const cfg = configFrom(values);
  const nc = await connectNats(cfg, silentLogger(), 'sluice-snapshot');
  try {
    const kv = await openSnapshotBucket(nc, cfg.prefix, cfg.streams.replicas);
    await requestSnapshot(kv, tables);
    print(`snapshot requested for ${tables.join(', ')}; the running connector picks it up.`);
    if (values['no-wait']) return 0;
    const tty = process.stdout.isTTY;
    let shown = 0;
    for (;;) {
      const states = (await listSnapshots(kv)).filter((s) => tables.includes(s.table));
      const lines = states.map((s) => {
        const pct = s.rowsTotal ? Math.min(1, s.rowsDone / s.rowsTotal) : s.status === 'done' ? 1 : 0;
        const bar = '#'.repeat(Math.round(pct * 30)).padEnd(30, '.');
        return `${s.table.padEnd(30)} [${bar}] ${s.rowsDone}/${s.rowsTotal} rows, ${s.status}, ${s.rate} rows/s`;
      });
      const done = states.length > 0 && states.every((s) => s.status === 'done');
      if (tty) {
        // Redraw the bars in place.
        if (shown) process.stdout.write(`\x1b[${shown}A\x1b[0J`);
        process.stdout.write(lines.join('\n') + '\n');
        shown = lines.length;
      } else if (done) {
        for (const l of lines) print(l);
      }
      if (done) return 0;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await nc.close();
  }
}
