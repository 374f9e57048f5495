/**
 * `sluice verify [table…]`: compares the current facts with the tables (connector/verify/) and
 * prints every difference and a summary per table, or `--json`. Exit code 0 when the facts equal
 * the tables, 1 when any difference persists, 2 when verify itself could not run.
 */
import { connectNats } from '../../connector/nats-connection.js';
import { describeError, ErrorCodes, SluiceError } from '../../connector/errors.js';
import { silentLogger } from '../../connector/logger.js';
import {
  verify,
  VERIFY_DEFAULTS,
  type Difference,
  type TableReport,
  type VerifyReport,
} from '../../connector/verify/verifier.js';
import { formatLsn } from '../../schemas/versions.js';
import { configFrom, parseOptions, print } from './common.js';

export async function verifyCommand(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    process.stderr.write(
      `sluice: ${err instanceof SluiceError || !(err instanceof Error) ? describeError(err) : (err.stack ?? err.message)}\n`,
    );
    return 2;
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    {
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      'chunk-size': { type: 'string' },
      limit: { type: 'string' },
    },
    true,
  );
  const timeoutSec = positiveNumber(values.timeout, '--timeout', VERIFY_DEFAULTS.recheckTimeoutMs / 1000);
  const chunkSize = positiveNumber(values['chunk-size'], '--chunk-size', VERIFY_DEFAULTS.chunkSize, true);
  const limit = positiveNumber(values.limit, '--limit', VERIFY_DEFAULTS.maxDetails, true, true);
  const cfg = configFrom(values);
  const json = values.json === true;
  const nc = await connectNats(cfg, silentLogger(), 'sluice-verify');
  const shown = new Map<string, number>();
  try {
    const report = await verify(cfg, nc, {
      tables: positionals,
      chunkSize,
      recheckTimeoutMs: timeoutSec * 1000,
      maxDetails: limit,
      onProgress: (line) => process.stderr.write(`verify: ${line}\n`),
      onDifference: (d) => {
        if (json) return;
        const n = (shown.get(d.table) ?? 0) + 1;
        shown.set(d.table, n);
        if (n <= limit) printDifference(d);
      },
    });
    if (json) print(reportJson(report));
    else printSummary(report, cfg.slot);
    return report.clean ? 0 : 1;
  } finally {
    await nc.close();
  }
}

function positiveNumber(
  text: string | undefined,
  option: string,
  fallback: number,
  integer = false,
  zeroOk = false,
): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk) || (integer && !Number.isInteger(n))) {
    throw new SluiceError(
      ErrorCodes.config,
      `${option}: expected a ${integer ? 'whole ' : ''}number, got "${text}".`,
      {
        hint: `Example: ${option} ${fallback}`,
      },
    );
  }
  return n;
}

const KIND_TEXT: Record<Difference['kind'], string> = {
  'missing-in-facts': 'missing in facts',
  'missing-in-table': 'missing in table',
  different: 'different',
};

const CHECK_TEXT: Record<Difference['check'], string> = {
  confirmed: '',
  'not-streaming': ' (reported at once: no connector streams from the slot)',
  timeout: ' (the re-check timed out: the connector is behind or the row keeps changing)',
};

function keyText(key: ReadonlyMap<string, string>): string {
  return [...key].map(([k, v]) => `${k}=${v}`).join(', ');
}

function printDifference(d: Difference): void {
  const version = d.factVersion ? `, fact version ${d.factVersion}` : '';
  print(`${d.table}: ${KIND_TEXT[d.kind]}: ${keyText(d.key)} (${d.subject}${version})${CHECK_TEXT[d.check]}`);
  for (const c of d.columns) {
    print(`    ${c.column}: table ${c.table ?? '(no such column)'}, fact ${c.fact ?? '(no such column)'}`);
  }
}

function printSummary(report: VerifyReport, slot: string): void {
  if (!report.slot.active) {
    print(
      `slot ${slot} is ${report.slot.exists ? 'inactive' : 'missing'}: no connector streams, differences were reported without re-checking`,
    );
  }
  const head = ['table', 'rows checked', 'matching', 'missing in facts', 'missing in table', 'different'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const t of report.tables) {
    if (t.skipped) {
      notes.push(`${t.table}: skipped, ${t.skipped}`);
      continue;
    }
    rows.push([t.table, ...counts(t).map(String)]);
    const omitted = total(t) - t.differences.length;
    if (omitted > 0) notes.push(`${t.table}: ${omitted} more difference(s) not shown (--limit)`);
    if (t.snapshot && t.snapshot !== 'done') {
      notes.push(`${t.table}: its snapshot is ${t.snapshot}; rows it has not reached yet have no fact`);
    }
  }
  if (rows.length) {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) =>
      r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    print(line(head));
    for (const r of rows) print(line(r));
  }
  for (const n of notes) print(n);
  const differences = report.tables.reduce((s, t) => s + total(t), 0);
  const checked = report.tables.filter((t) => !t.skipped);
  const rowsChecked = checked.reduce((s, t) => s + t.rowsChecked, 0);
  print(
    report.clean
      ? `facts equal the tables: ${rowsChecked} rows in ${checked.length} table(s)` +
          (report.slot.confirmed !== null ? ` (slot confirmed ${formatLsn(report.slot.confirmed)})` : '')
      : `${differences} difference(s) in ${checked.filter((t) => total(t) > 0).length} of ${checked.length} table(s)`,
  );
}

function counts(t: TableReport): number[] {
  return [t.rowsChecked, t.matching, t.missingInFacts, t.missingInTable, t.different];
}

function total(t: TableReport): number {
  return t.missingInFacts + t.missingInTable + t.different;
}

/**
 * The report as JSON. Values are embedded as the JSON texts they are (a big integer inside jsonb
 * keeps its digits), so the output is assembled with placeholders for them.
 */
function reportJson(report: VerifyReport): string {
  const raw: string[] = [];
  const embed = (text: string) => `\u0000${raw.push(text) - 1}\u0000`;
  const object = (m: ReadonlyMap<string, string>) =>
    Object.fromEntries([...m].map(([k, v]) => [k, embed(v)]));
  const out = {
    source: report.source,
    clean: report.clean,
    slot: {
      name: report.slot.name,
      exists: report.slot.exists,
      active: report.slot.active,
      confirmedFlushLsn: report.slot.confirmed === null ? null : formatLsn(report.slot.confirmed),
    },
    tables: report.tables.map((t) => ({
      table: t.table,
      skipped: t.skipped,
      snapshot: t.snapshot,
      rowsChecked: t.rowsChecked,
      matching: t.matching,
      missingInFacts: t.missingInFacts,
      missingInTable: t.missingInTable,
      different: t.different,
      factsChecked: t.factsChecked,
      resolvedOnRecheck: t.resolvedOnRecheck,
      differences: t.differences.map((d) => ({
        kind: d.kind,
        subject: d.subject,
        key: object(d.key),
        columns: d.columns.map((c) => ({
          column: c.column,
          ...(c.table === null ? {} : { table: embed(c.table) }),
          ...(c.fact === null ? {} : { fact: embed(c.fact) }),
        })),
        factVersion: d.factVersion,
        check: d.check,
      })),
      differencesOmitted: total(t) - t.differences.length,
    })),
  };
  return JSON.stringify(out, null, 2).replace(/"\\u0000(\d+)\\u0000"/g, (_, i: string) => raw[Number(i)]!);
}
