/**
 * Loads the payload contracts of domain events: an ES module (the `outboxContracts` setting) whose
 * default export maps event types to zod schemas, made with `defineEventContracts` from
 * `sluice/schemas`. Loaded once at start; a module that cannot be used stops the connector with the
 * reason, rather than publishing events unchecked.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EVENT_TYPE, type EventContracts } from '../../schemas/outbox.js';
import { ErrorCodes, SluiceError } from '../errors.js';

/** The contracts of the module at `path` (relative to the working directory), or null without one. */
export async function loadEventContracts(path: string | undefined): Promise<EventContracts | null> {
  if (!path) return null;
  const url = pathToFileURL(resolve(path)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (cause) {
    throw new SluiceError(
      ErrorCodes.config,
      `outboxContracts: the module ${path} could not be loaded: ${(cause as Error).message}.`,
      {
        hint: 'Check the path (relative to the working directory); a .ts module needs node --import tsx.',
        cause,
      },
    );
  }
  const contracts = mod.default;
  if (!contracts || typeof contracts !== 'object') {
    throw new SluiceError(ErrorCodes.config, `outboxContracts: the module ${path} has no default export.`, {
      hint: "Export the contracts: export default defineEventContracts({ 'order.placed': z.object({…}) }).",
    });
  }
  for (const [type, schema] of Object.entries(contracts)) {
    if (!EVENT_TYPE.test(type) || typeof (schema as { safeParse?: unknown })?.safeParse !== 'function') {
      throw new SluiceError(
        ErrorCodes.config,
        `outboxContracts: the entry "${type}" of ${path} is not an event type with a zod schema.`,
        { hint: 'Use defineEventContracts from sluice/schemas, which checks each entry.' },
      );
    }
  }
  return contracts as EventContracts;
}
