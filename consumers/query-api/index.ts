/** The query API over the read models (docs/query-api.md). */
export { startQueryApi, type QueryApi, type QueryApiOptions } from './server.js';
