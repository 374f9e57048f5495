/**
 * Loads consumer modules for `sluice consumers run`: `.js`/`.mjs` with Node's own loader, `.ts`
 * through tsx when it is installed (a development dependency of the project that owns the
 * module; production images run compiled `.js`).
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isConsumerDefinition, type ConsumerDefinition } from './define-consumer.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';

let tsxRegistered = false;

async function registerTsx(path: string): Promise<void> {
  // Already running under tsx (node --import tsx): .ts imports work as they are.
  if (tsxRegistered || process.execArgv.some((a) => a.includes('tsx'))) return;
  try {
    const api = (await import('tsx/esm/api')) as { register: () => unknown };
    api.register();
    tsxRegistered = true;
  } catch (cause) {
    throw new ConsumerError(ConsumerErrorCodes.module, `${path} is TypeScript and tsx is not installed.`, {
      hint: 'Install it next to your consumers (npm install --save-dev tsx) or compile them to .js.',
      cause,
    });
  }
}

/** Loads each module's default export (a definition or an array of them). */
export async function loadConsumerModules(
  paths: readonly string[],
  cwd = process.cwd(),
): Promise<ConsumerDefinition[]> {
  const out: ConsumerDefinition[] = [];
  for (const p of paths) {
    const abs = resolve(cwd, p);
    if (!existsSync(abs)) {
      throw new ConsumerError(ConsumerErrorCodes.module, `consumer module ${p} does not exist.`, {
        hint: 'Give the path of a .js (or .ts) file whose default export is defineConsumer({...}).',
      });
    }
    if (['.ts', '.mts', '.cts'].includes(extname(abs))) await registerTsx(p);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
    } catch (cause) {
      if (cause instanceof ConsumerError) throw cause;
      throw new ConsumerError(
        ConsumerErrorCodes.module,
        `consumer module ${p} cannot be loaded: ${(cause as Error).message}.`,
        {
          hint: 'Fix the module (run it with node to see the whole error).',
          cause,
        },
      );
    }
    const defs = Array.isArray(mod.default) ? mod.default : [mod.default];
    if (defs.length === 0 || !defs.every(isConsumerDefinition)) {
      throw new ConsumerError(
        ConsumerErrorCodes.module,
        `consumer module ${p} has no consumer as its default export.`,
        {
          hint: "Write: import { defineConsumer } from 'sluice/consumers'; export default defineConsumer({ name, from, handle });",
        },
      );
    }
    out.push(...(defs as ConsumerDefinition[]));
  }
  const names = out.map((d) => d.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) {
    throw new ConsumerError(ConsumerErrorCodes.module, `two modules define consumer ${dup}.`, {
      hint: 'Consumer names are durable names: give each consumer its own.',
    });
  }
  return out;
}
