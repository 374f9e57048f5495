#!/usr/bin/env node
/**
 * The `sluice` command. Each subcommand lives in cli/commands/; this file parses the first word
 * and turns errors a user can fix into one sentence (no stack trace) and a non-zero exit code.
 */
import { describeError, SluiceError } from '../connector/errors.js';

const HELP = `sluice — change data capture from PostgreSQL to NATS JetStream

usage: sluice <command> [options]

commands:
  run                 run the connector daemon (SLUICE_DATABASE_URL, SLUICE_NATS_URL)
  doctor              check the database and NATS, and print what to fix
  status [--json]     slot lag, confirmed position, stream counts, snapshot progress
  snapshot <table...> (re-)snapshot tables while the connector runs [--no-wait]
  verify [table...]   compare the facts with the tables, row by row and column by column
                      [--json] [--timeout SEC] [--chunk-size N] [--limit N]; exit 1 on differences
  setup outbox        install sluice.emit() and sluice.set_context() in the database [--print: SQL only]
  teardown            drop the replication slot and publications [--streams to delete streams]
  read-models run     keep the SQL read models current in the read database (SLUICE_READ_DATABASE_URL)
  read-models serve   the query API over the read models alone (SLUICE_HTTP_PORT, default 8082)
  read-models rebuild <name>    rebuild one read model from the replica, swapped in atomically
  read-models status [--json]   rows, position and lag of each read model
  schemas list|export|codegen|diff
                      the schema registry: list versions, export JSON Schema (--out DIR),
                      generate zod + TypeScript types (--out FILE.ts), diff TABLE V1 V2 [--fail-on-breaking]
  demo                run an embedded PostgreSQL, nats-server, the shop and the connector
  consumers run <module…>       run consumer modules (defineConsumer) as a daemon
  consumers list|status [--json] each consumer's position, pending, redeliveries, dead letters
  consumers reset <name> --from beginning|<ISO time>|<stream sequence>   rewind (replay)
  dlq list|show|redrive|drop <consumer> …   dead letters of a consumer (see docs/consumers.md)
  example shop ...    seed the shop example database or run its traffic generator
  help                this text

options (all commands): --config FILE (YAML; env wins), or the SLUICE_* environment variables:
  SLUICE_DATABASE_URL  postgres://user:password@host:port/database (required)
  SLUICE_NATS_URL      nats://host:port (required)
  SLUICE_HTTP_PORT     port of /healthz, /readyz, /metrics (default 8080; 0 disables)
  SLUICE_PREFIX, SLUICE_SLOT, SLUICE_PUBLICATION, SLUICE_TABLES, SLUICE_SNAPSHOT, SLUICE_LOG_LEVEL …
  see docs/configuration.md for every setting.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case 'run':
      return (await import('./commands/run.js')).runCommand(rest);
    case 'doctor':
      return (await import('./commands/doctor.js')).doctorCommand(rest);
    case 'status':
      return (await import('./commands/status.js')).statusCommand(rest);
    case 'snapshot':
      return (await import('./commands/snapshot.js')).snapshotCommand(rest);
    case 'verify':
      return (await import('./commands/verify.js')).verifyCommand(rest);
    case 'setup':
      return (await import('./commands/setup.js')).setupCommand(rest);
    case 'schemas':
      return (await import('./commands/schemas.js')).schemasCommand(rest);
    case 'teardown':
      return (await import('./commands/teardown.js')).teardownCommand(rest);
    case 'consumers':
      return (await import('./commands/consumers.js')).consumersCommand(rest);
    case 'dlq':
      return (await import('./commands/dlq.js')).dlqCommand(rest);
    case 'read-models':
      return (await import('./commands/read-models.js')).readModelsCommand(rest);
    case 'demo':
      return (await import('./commands/demo.js')).demoCommand(rest);
    case 'example': {
      const [name, ...args] = rest;
      if (name !== 'shop') {
        process.stderr.write(`sluice: unknown example "${name ?? ''}"; the only example is "shop".\n`);
        return 2;
      }
      const { runShopCommand } = await import('../examples/shop/command.js');
      return runShopCommand(args, (line) => process.stdout.write(line + '\n'));
    }
    default:
      process.stderr.write(`sluice: unknown command "${cmd}". Run "sluice help" for the list.\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof SluiceError) {
      process.stderr.write(`sluice: ${describeError(err)}\n`);
    } else if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string') {
      // Errors that carry a code already say what went wrong (a missing binary, a refused
      // connection, a consumer error with its hint): one line, no stack trace.
      const hint = (err as { hint?: unknown }).hint;
      process.stderr.write(`sluice: ${err.message}${typeof hint === 'string' ? ` ${hint}` : ''}\n`);
    } else {
      process.stderr.write(`sluice: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = 1;
  },
);
