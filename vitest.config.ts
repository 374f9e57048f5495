import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Three projects, run in this order: fast unit tests beside the code; integration tests under
// test/ that start real PostgreSQL and nats-server processes through test/harness (two files at a
// time); the fault tests (test/integration/faults-*.test.ts), one file at a time.
// The public entry points examples import, from source (as tsconfig's paths do for tsc).
const resolve = {
  alias: {
    'sluice/client': fileURLToPath(new URL('./client/index.ts', import.meta.url)),
    'sluice/consumers': fileURLToPath(new URL('./consumers/index.ts', import.meta.url)),
    'sluice/schemas': fileURLToPath(new URL('./schemas/index.ts', import.meta.url)),
  },
};

export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          include: [
            '{connector,client,consumers,schemas,observability,connections,cli,examples,bench,scripts,deploy}/**/*.test.ts',
          ],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/faults-*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 1 },
          testTimeout: 240_000,
          hookTimeout: 120_000,
          pool: 'forks',
          // Two files at a time: each starts its own servers, and most of a file's time is spent
          // waiting on them, so a second file uses the idle core.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
      {
        resolve,
        test: {
          // Fault tests (kill -9, outages, memory limits) run after the rest, one at a time: their
          // load and their kills must not share the 2-core machine with another file.
          name: 'faults',
          include: ['test/integration/faults-*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 2 },
          testTimeout: 240_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
