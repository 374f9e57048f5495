/** Read models: SQL over the source's tables, kept current in a read database (docs/read-models.md). */
export {
  parseReadModelsConfig,
  ReadModelsConfigSchema,
  ReadModelDefinitionSchema,
  READ_MODEL_SETTINGS,
  type ReadModelDefinition,
  type ReadModelsConfig,
} from './config.js';
export { ReadModelError, ReadModelErrorCodes } from './errors.js';
export { analyzeModel, UnsupportedSqlError, type ModelPlan } from './sql-analysis.js';
export { loadSqlParser } from './sql-parser.js';
export { runReadModels, planModels, type ReadModelsLogger } from './daemon.js';
export { rebuildReadModel } from './rebuild.js';
export { collectReadModelsStatus, type ReadModelStatus, type ReadModelsStatus } from './status.js';

/** A read model given in TypeScript: the same shape as an entry of `readModels` in the config. */
export function defineReadModel<T extends { name: string; key: readonly string[]; sql: string }>(m: T): T {
  return m;
}
