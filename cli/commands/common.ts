/** Helpers shared by the subcommands: option parsing, config loading, connections. */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { connectNats, JetStreamClient } from '../../consumers/runtime/jetstream-client.js';
import { loadRuntimeSettings, type RuntimeSettings } from '../../consumers/runtime/runtime-settings.js';
import { loadConfig, readConfigFile, type Config } from '../../connector/config.js';
import {
  parseReadModelsConfig,
  READ_MODEL_SETTINGS,
  type ReadModelsConfig,
} from '../../consumers/read-models/config.js';
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
  return loadConfig(file ? { file, ignore: READ_MODEL_SETTINGS } : { ignore: READ_MODEL_SETTINGS });
}

/**
 * Loads the read models' configuration from the same file and environment: the connector's
 * settings in the file are left alone, the shared NATS settings are read by both.
 */
export function readModelsConfigFrom(values: { config?: string | boolean }): ReadModelsConfig {
  const file = typeof values.config === 'string' ? values.config : process.env.SLUICE_CONFIG;
  return parseReadModelsConfig(file ? readConfigFile(file) : {}, process.env);
}

export function print(line = ''): void {
  process.stdout.write(line + '\n');
}

/**
 * Settings of the consumer commands: the environment over the applicable keys of the --config
 * file (only NATS, prefix, log level and the consumers' HTTP port; no database needed).
 */
export function consumerSettingsFrom(values: { config?: string | boolean }): RuntimeSettings {
  const file = typeof values.config === 'string' ? values.config : process.env.SLUICE_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    try {
      raw = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (cause) {
      throw new SluiceError(ErrorCodes.config, `config file ${file} cannot be read.`, {
        hint: 'Check the path given with --config or SLUICE_CONFIG.',
        cause,
      });
    }
  }
  return loadRuntimeSettings(process.env, raw);
}

/** Runs `fn` with a JetStream client on a connection of its own, closed afterwards. */
export async function withJetStream<T>(
  s: RuntimeSettings,
  name: string,
  fn: (client: JetStreamClient) => Promise<T>,
): Promise<T> {
  const nc = await connectNats(s, name);
  try {
    return await fn(await JetStreamClient.create(nc));
  } finally {
    await nc.close().catch(() => undefined);
  }
}
