/**
 * `sluice schemas list|export|codegen|diff`: the schema registry (`<PREFIX>_SCHEMAS`) as a list,
 * JSON Schema files, a TypeScript module with zod schemas, or a compatibility report. Needs only
 * NATS (SLUICE_NATS_URL, SLUICE_PREFIX); the database URL is not used.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, type Config } from '../../connector/config.js';
import { connectNats } from '../../connector/nats-connection.js';
import { ErrorCodes, SluiceError } from '../../connector/errors.js';
import { silentLogger } from '../../connector/logger.js';
import { openSchemaReader } from '../../connector/sink/schema-store.js';
import { generateModule } from '../../schemas/codegen.js';
import { diffVersions } from '../../schemas/compatibility.js';
import { exportSchemas } from '../../schemas/json-schema-export.js';
import { columnsOf, schemaBucketName, type SchemaRegistryReader } from '../../schemas/registry.js';
import { loadConsumerModules } from '../../consumers/runtime/module-loader.js';
import { isEnricherDefinition } from '../../consumers/enrichers/define-enricher.js';
import { enricherJsonSchemas } from '../../consumers/enrichers/enricher-schemas.js';
import { parseOptions, print } from './common.js';

const USAGE = `usage:
  sluice schemas list                                   every table and its versions
  sluice schemas export --out <dir> [--enricher <module>]…
                                                        JSON Schema files of the events and every table version,
                                                        and the integration-event contracts of the enrichers
  sluice schemas codegen --out <file.ts>                TypeScript module: zod schemas and types per table version
  sluice schemas diff <schema.table> <v1> <v2> [--fail-on-breaking] [--json]
                                                        is v2 backward compatible with v1, and why`;

/** The configuration without requiring the database URL (these commands only read NATS). */
function natsConfig(values: { config?: string | boolean }): Config {
  const file = typeof values.config === 'string' ? values.config : undefined;
  const env = process.env.SLUICE_DATABASE_URL
    ? process.env
    : { ...process.env, SLUICE_DATABASE_URL: 'postgres://unused/unused' };
  return loadConfig({ ...(file ? { file } : {}), env });
}

async function withReader<T>(cfg: Config, fn: (r: SchemaRegistryReader) => Promise<T>): Promise<T> {
  const nc = await connectNats(cfg, silentLogger(), 'sluice-schemas');
  try {
    const reader = await openSchemaReader(nc, cfg.prefix);
    if (!reader)
      throw new SluiceError(
        ErrorCodes.config,
        `the schema registry ${schemaBucketName(cfg.prefix)} does not exist.`,
        {
          hint: 'Run the connector ("sluice run") first, or set SLUICE_PREFIX to the prefix it uses.',
        },
      );
    return await fn(reader);
  } finally {
    await nc.close();
  }
}

function usage(message: string): never {
  throw new SluiceError(ErrorCodes.config, message, { hint: USAGE });
}

export async function schemasCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list': {
      const { values } = parseOptions(rest, { json: { type: 'boolean' } });
      const all = await withReader(natsConfig(values), (r) => r.all());
      if (values.json) {
        print(JSON.stringify(Object.fromEntries(all), null, 2));
        return 0;
      }
      for (const [table, versions] of all)
        for (const v of versions)
          print(
            `${table} v${v.version} since ${v.position ?? (v.since === '0' ? '(not streamed yet)' : `lsn ${v.since}`)}: ${columnsOf(
              v,
            )
              .map((c) => `${c.name} ${c.type.replace(/^pg_catalog\./, '')}${c.nullable ? '' : ' NOT NULL'}`)
              .join(', ')}`,
          );
      return 0;
    }
    case 'export': {
      const { values } = parseOptions(rest, {
        out: { type: 'string' },
        enricher: { type: 'string', multiple: true },
      });
      if (!values.out) usage('sluice schemas export needs --out <dir>.');
      const all = await withReader(natsConfig(values), (r) => r.all());
      const files = exportSchemas(all);
      // Integration events: integration/<domain>.<type>.v<N>.schema.json per enricher contract.
      const enrichers = (await loadConsumerModules(values.enricher ?? [])).filter(isEnricherDefinition);
      for (const [type, schema] of Object.entries(enricherJsonSchemas(enrichers)))
        files.set(`integration/${type}.schema.json`, schema);
      for (const [path, schema] of files) {
        const file = join(resolve(values.out), path);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, JSON.stringify(schema, null, 2) + '\n');
      }
      print(`wrote ${files.size} JSON Schema files for ${all.size} tables to ${values.out}`);
      return 0;
    }
    case 'codegen': {
      const { values } = parseOptions(rest, { out: { type: 'string' } });
      if (!values.out) usage('sluice schemas codegen needs --out <file.ts>.');
      const all = await withReader(natsConfig(values), (r) => r.all());
      const file = resolve(values.out);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, generateModule(all));
      const versions = [...all.values()].reduce((n, v) => n + v.length, 0);
      print(`wrote ${values.out}: ${all.size} tables, ${versions} versions`);
      return 0;
    }
    case 'diff': {
      const { values, positionals } = parseOptions(
        rest,
        { 'fail-on-breaking': { type: 'boolean' }, json: { type: 'boolean' } },
        true,
      );
      const [table, a, b] = positionals;
      if (!table || !a || !b || positionals.length !== 3 || !/^[1-9]\d*$/.test(a) || !/^[1-9]\d*$/.test(b))
        usage(
          'sluice schemas diff needs a table and two schema versions, e.g. "sluice schemas diff public.orders 1 2".',
        );
      const diff = await withReader(natsConfig(values), async (r) => {
        const [va, vb] = [await r.version(table, Number(a)), await r.version(table, Number(b))];
        if (!va || !vb) {
          const known = (await r.history(table)).map((v) => v.version);
          throw new SluiceError(
            ErrorCodes.config,
            `${table} has no schemaVersion ${!va ? a : b} in the registry (it has ${known.length ? known.join(', ') : 'none'}).`,
            { hint: 'Run "sluice schemas list" for the tables and their versions.' },
          );
        }
        return diffVersions(va, vb);
      });
      if (values.json) print(JSON.stringify(diff, null, 2));
      else {
        print(`${table} v${a} → v${b}: ${diff.compatible ? 'backward compatible' : 'BREAKING'}`);
        if (!diff.changes.length) print('  no column changes');
        for (const c of diff.changes) print(`  ${c.breaking ? 'breaking  ' : 'compatible'}  ${c.reason}`);
      }
      return values['fail-on-breaking'] && !diff.compatible ? 1 : 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}
