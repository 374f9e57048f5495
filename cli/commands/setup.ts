/**
 * `sluice setup outbox`: installs the outbox's SQL helpers (`sluice.emit`, `sluice.set_context`) in
 * the source database; `--print` only prints the SQL, for a migration tool.
 */
import { connectSql } from '../../connector/source/sql-connection.js';
import { installOutboxFunctions, OUTBOX_SQL } from '../../connector/source/outbox-functions.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import { configFrom, parseOptions, print } from './common.js';

export async function setupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { print: { type: 'boolean' } }, true);
  if (positionals.length !== 1 || positionals[0] !== 'outbox') {
    throw new SluiceError(ErrorCodes.config, `sluice setup: unknown target "${positionals.join(' ')}".`, {
      hint: 'The only target is "outbox": sluice setup outbox [--print].',
    });
  }
  if (values.print) {
    process.stdout.write(OUTBOX_SQL);
    return 0;
  }
  const cfg = configFrom(values);
  const sql = await connectSql(cfg.databaseUrl, 'sluice-setup');
  try {
    await installOutboxFunctions(sql);
  } finally {
    await sql.end();
  }
  print('installed sluice.emit(type, key, payload) and sluice.set_context(context) in schema sluice');
  return 0;
}
