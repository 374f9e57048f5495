/**
 * `sluice dlq list <consumer> [--json]`, `show <consumer> <id>`, `redrive <consumer> [--id …]
 * [--all]`, `drop <consumer> [--id …] [--all]`: the dead letters of a consumer in `<P>_DLQ`.
 */
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import { DeadLetterStore, type DeadLetterEntry } from '../../consumers/runtime/dead-letters.js';
import { consumerSettingsFrom, parseOptions, print, withJetStream } from './common.js';

const USAGE = `usage: sluice dlq list <consumer> [--json]
       sluice dlq show <consumer> <id>
       sluice dlq redrive <consumer> (--id <id>… | --all)
       sluice dlq drop <consumer> (--id <id>… | --all)`;

export async function dlqCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseOptions(
    rest,
    { json: { type: 'boolean' }, id: { type: 'string', multiple: true }, all: { type: 'boolean' } },
    true,
  );
  const [consumer, ...more] = positionals;
  if (!['list', 'show', 'redrive', 'drop'].includes(sub ?? '')) {
    process.stderr.write(`sluice dlq: unknown subcommand "${sub ?? ''}".\n${USAGE}\n`);
    return 2;
  }
  if (!consumer) usage('name the consumer');
  const s = consumerSettingsFrom(values);
  return withJetStream(s, `sluice dlq ${sub}`, async (client) => {
    const dlq = new DeadLetterStore(client, s.prefix);
    switch (sub) {
      case 'list': {
        const entries = await dlq.list(consumer);
        if (values.json) print(JSON.stringify(entries, null, 2));
        else if (entries.length === 0) print(`no dead letters for consumer ${consumer}`);
        else for (const e of entries) print(summary(e));
        return 0;
      }
      case 'show': {
        const id = parseId(more[0]);
        print(JSON.stringify(await dlq.require(consumer, id), null, 2));
        return 0;
      }
      case 'redrive':
      case 'drop': {
        const ids = await selectIds(dlq, consumer, values.id, values.all);
        for (const id of ids) {
          if (sub === 'redrive') {
            await dlq.require(consumer, id);
            await dlq.requestRedrive(consumer, id);
          } else {
            await dlq.drop(await dlq.require(consumer, id));
          }
        }
        print(
          sub === 'redrive'
            ? `asked consumer ${consumer} to handle ${ids.length} dead letter(s) again: ${ids.join(', ')} (it does so while it runs; "sluice dlq list ${consumer}" shows what is left)`
            : `dropped ${ids.length} dead letter(s) of consumer ${consumer}: ${ids.join(', ')} (recorded on ${s.prefix}.dlq.${consumer}.dropped)`,
        );
        return 0;
      }
    }
    return 2;
  });
}

function summary(e: DeadLetterEntry): string {
  return `${e.id}  ${e.deadLetteredAt}  ${e.stream}#${e.sequence}  ${e.subject}  attempts ${e.attempts}  ${e.error.message}`;
}

function parseId(s: string | undefined): number {
  if (!s || !/^\d+$/.test(s))
    usage(`a dead letter id is a number (the first column of "sluice dlq list"), got "${s ?? ''}"`);
  return Number(s);
}

async function selectIds(
  dlq: DeadLetterStore,
  consumer: string,
  ids: string[] | undefined,
  all: boolean | undefined,
): Promise<number[]> {
  if (all && ids?.length) usage('give --id or --all, not both');
  if (all) return (await dlq.list(consumer)).map((e) => e.id);
  if (!ids?.length) usage('say which dead letters: --id <id> (repeatable) or --all');
  return ids.map(parseId);
}

function usage(what: string): never {
  throw new SluiceError(ErrorCodes.config, `sluice dlq: ${what}.`, { hint: USAGE.replace(/\n\s*/g, ' | ') });
}
