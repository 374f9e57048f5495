import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests beside the code, and integration tests under test/ that start
// real PostgreSQL and nats-server processes through test/harness. Integration files run with
// limited parallelism because every file starts its own servers on a 2-core machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{connector,consumers,schemas,cli,examples,bench}/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
});
