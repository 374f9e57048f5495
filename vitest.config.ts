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

/**
 * Integration files the second pass of `npm test` (PostgreSQL 17 and nats-server 2.10) leaves out:
 * their behaviour does not depend on the server versions, or another file of the pass covers it.
 */
const VERSION_INDEPENDENT = [
  'test/integration/package.test.ts',
  'test/integration/embedded-postgres.test.ts',
  'test/harness/harness.test.ts',
  'test/integration/cluster.test.ts',
  'test/integration/demo.test.ts',
  'test/integration/shop.test.ts',
  'test/integration/ha.test.ts',
  'test/integration/consumers-daemon.test.ts',
  'test/integration/cli.test.ts',
  'test/integration/schemas-faults.test.ts',
  'test/integration/enrichers.test.ts',
  'test/integration/metrics.test.ts',
];

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
          // A project's exclude replaces the command line's --exclude, so the second pass of npm test
          // (SLUICE_TEST_PASS=versions) names what it leaves out here.
          exclude: [
            'test/integration/faults-*.test.ts',
            ...(process.env.SLUICE_TEST_PASS === 'versions' ? VERSION_INDEPENDENT : []),
          ],
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
