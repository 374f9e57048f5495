/**
 * `npm run docs:config`: rewrites the settings table of docs/configuration.md from the schema in
 * connector/config.ts (see config-docs.ts). Run it after changing a setting, and commit the result.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withSettingsTable } from './config-docs.js';

const file = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
const before = readFileSync(file, 'utf8');
const after = withSettingsTable(before);
if (after === before) {
  process.stdout.write('docs/configuration.md: settings table up to date\n');
} else {
  writeFileSync(file, after);
  process.stdout.write('docs/configuration.md: settings table rewritten\n');
}
