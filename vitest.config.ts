import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests beside the code, and integration tests under test/ that start
// real PostgreSQL and nats-server processes through test/harness. Integration files run one at a
// time: each starts its own servers, and the fault tests (kill -9, outages, memory limits) must
// not share the 2-core machine with another file's load.
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
            '{connector,client,consumers,schemas,observability,cli,examples,bench,scripts}/**/*.test.ts',
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
          environment: 'node',
          sequence: { groupOrder: 1 },
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
