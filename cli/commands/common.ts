/** Helpers shared by the subcommands: option parsing, config loading, connections. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, type Config } from '../../connector/config.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** What {@link parseOptions} returns, spelled out so that the declaration build can name it. */
type ParsedOptions<T extends OptionsConfig> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: T & { config: { type: 'string' } };
    allowPositionals: boolean;
    strict: true;
  }>
>;

/** Parses options; an unknown option is a one-sentence error (exit code 2 via SluiceError). */
export function parseOptions<T extends OptionsConfig>(
  argv: string[],
  options: T,
  allowPositionals = false,
): ParsedOptions<T> {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, config: { type: 'string' } },
      allowPositionals,
      strict: true,
    });
  } catch (e) {
    throw new SluiceError(ErrorCodes.config, (e as Error).message.replace(/\.$/, '') + '.', {
      hint: 'Run "sluice help" for the options.',
    });
  }
}

/** Loads the configuration: defaults < --config file < environment. */
export function configFrom(values: { config?: string | boolean }): Config {
  const file = typeof values.config === 'string' ? values.config : undefined;
  return loadConfig(file ? { file } : {});
}

export function print(line = ''): void {
  process.stdout.write(line + '\n');
}
