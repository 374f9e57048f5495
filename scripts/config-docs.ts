/**
 * The settings table of docs/configuration.md, generated from the zod schema in connector/config.ts
 * (each field's `.meta()`, default and bounds) and its environment variables. `npm run docs:config`
 * writes it; config-docs.test.ts fails when the committed table differs.
 */
import { z } from 'zod';
import { CONFIG_ENV, ConfigSchema } from '../connector/config.js';
import type { SettingMeta } from '../connector/config.js';

/** The lines that enclose the generated table in docs/configuration.md. */
export const BEGIN_MARKER =
  '<!-- settings table: generated from connector/config.ts by `npm run docs:config`; do not edit by hand -->';
export const END_MARKER = '<!-- end of settings table -->';

/** One setting as documented: its dotted YAML path, environment variable and rendered cells. */
export interface SettingRow {
  path: string;
  /** Environment variable, if any. */
  env: string | undefined;
  /** Whether the environment variable takes a comma-separated list. */
  envList: boolean;
  /** The default as shown in the table (Markdown). */
  defaultText: string;
  unit: string;
  description: string;
}

interface JsonSchemaNode extends Partial<SettingMeta> {
  type?: string;
  default?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  enum?: unknown[];
  anyOf?: { const?: unknown }[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  maxLength?: number;
}

const MiB = 1024 * 1024;
const DAY = 24 * 3600;

/** Every leaf setting of the schema, in declaration order. */
export function settingRows(
  schema: z.ZodType = ConfigSchema,
  env: Readonly<Record<string, { path: string[]; type: string }>> = CONFIG_ENV,
): SettingRow[] {
  const root = z.toJSONSchema(schema, { io: 'input' }) as JsonSchemaNode;
  const rows: SettingRow[] = [];
  const walk = (node: JsonSchemaNode, prefix: string): void => {
    for (const [name, field] of Object.entries(node.properties ?? {})) {
      const path = prefix + name;
      if (field.type === 'object' && field.properties) {
        walk(field, `${path}.`);
        continue;
      }
      if (field.description === undefined) {
        throw new Error(`${path} has no description: add .meta({ description }) in connector/config.ts`);
      }
      const envName = Object.entries(env).find(([, v]) => v.path.join('.') === path)?.[0];
      const list = envName !== undefined && env[envName]!.type === 'list';
      rows.push({
        path,
        env: envName,
        envList: list,
        defaultText: defaultOf(field, node.required?.includes(name) ?? false),
        unit: unitOf(field),
        description: field.description,
      });
    }
  };
  walk(root, '');
  for (const [name, spec] of Object.entries(env)) {
    if (!rows.some((r) => r.path === spec.path.join('.'))) {
      throw new Error(`${name} sets ${spec.path.join('.')}, which is not a setting`);
    }
  }
  return rows;
}

/** The Markdown table of every setting. */
export function renderSettingsTable(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    '| YAML | environment | default | unit / values | meaning |',
    '|---|---|---|---|---|',
    ...settingRows().map(
      (r) =>
        `| \`${r.path}\` | ${r.env === undefined ? '—' : `\`${r.env}\`${r.envList ? ' (comma-separated)' : ''}`} | ${cell(r.defaultText)} | ${cell(r.unit)} | ${cell(r.description)} |`,
    ),
  ];
  return lines.join('\n');
}

/** `markdown` with the text between the markers replaced by the generated table. */
export function withSettingsTable(markdown: string): string {
  const begin = markdown.indexOf(BEGIN_MARKER);
  const end = markdown.indexOf(END_MARKER);
  if (begin < 0 || end < begin) {
    throw new Error(`docs/configuration.md lacks the lines ${BEGIN_MARKER} … ${END_MARKER}`);
  }
  return `${markdown.slice(0, begin)}${BEGIN_MARKER}\n\n${renderSettingsTable()}\n\n${markdown.slice(end)}`;
}

/**
 * A default as prose states it, "`setting` (default 16 MiB)": bytes in MiB when whole, seconds as
 * `N s` (or days), other numbers and strings as they are.
 */
export function plainDefault(value: unknown, unit: string | undefined): string {
  if (typeof value !== 'number') return Array.isArray(value) ? value.join(',') : String(value);
  if (unit?.startsWith('bytes'))
    return value >= MiB && value % MiB === 0 ? `${value / MiB} MiB` : `${value} bytes`;
  if (unit === 'seconds') {
    return value >= DAY && value % DAY === 0 ? `${value / DAY} day${value === DAY ? '' : 's'}` : `${value} s`;
  }
  return String(value);
}

/** The schema default of every setting that has one, by dotted path, with its unit. */
export function settingDefaults(): Map<string, { value: unknown; unit: string | undefined }> {
  const out = new Map<string, { value: unknown; unit: string | undefined }>();
  const walk = (node: JsonSchemaNode, prefix: string): void => {
    for (const [name, field] of Object.entries(node.properties ?? {})) {
      if (field.type === 'object' && field.properties) walk(field, `${prefix}${name}.`);
      else if (field.default !== undefined)
        out.set(prefix + name, { value: field.default, unit: field.unit });
    }
  };
  walk(z.toJSONSchema(ConfigSchema, { io: 'input' }) as JsonSchemaNode, '');
  return out;
}

/** A default as the table shows it: `16777216` (16 MiB), `604800` (7 days), `*.*`. */
export function formatDefault(value: unknown, unit: string | undefined): string {
  if (Array.isArray(value)) return value.map((v) => `\`${String(v)}\``).join(', ');
  if (typeof value !== 'number') return `\`${String(value)}\``;
  const shown = `\`${value}\``;
  if (unit?.startsWith('bytes') && value >= MiB && value % MiB === 0) return `${shown} (${value / MiB} MiB)`;
  if (unit === 'seconds' && value >= DAY && value % DAY === 0) {
    return `${shown} (${value / DAY} day${value === DAY ? '' : 's'})`;
  }
  return shown;
}

function defaultOf(field: JsonSchemaNode, required: boolean): string {
  if (field.default !== undefined) return formatDefault(field.default, field.unit);
  if (field.defaultText !== undefined) return field.defaultText;
  return required ? '**required**' : 'none';
}

/** A bound in the unit's usual form: 1048576 bytes as 1 MiB. */
function bound(value: number, unit: string | undefined): string {
  return unit?.startsWith('bytes') && value >= MiB && value % MiB === 0
    ? `${value / MiB} MiB`
    : String(value);
}

function unitOf(field: JsonSchemaNode): string {
  const parts: string[] = [];
  if (field.unit !== undefined) parts.push(field.unit);
  const choices = field.enum ?? field.anyOf?.map((a) => a.const);
  if (choices && choices.every((c) => c !== undefined)) {
    const shown = choices.map((c) => (typeof c === 'string' ? `\`${c}\`` : String(c)));
    parts.push(shown.length <= 3 ? `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}` : shown.join(' '));
  }
  const max =
    field.maximum !== undefined && field.maximum < Number.MAX_SAFE_INTEGER ? field.maximum : undefined;
  const min = field.minimum === undefined ? undefined : bound(field.minimum, field.unit);
  if (min !== undefined && max !== undefined) parts.push(`${min}–${max}`);
  else if (min !== undefined) parts.push(`≥ ${min}`);
  else if (field.exclusiveMinimum !== undefined) parts.push(`> ${field.exclusiveMinimum}`);
  if (field.maxLength !== undefined) parts.push(`≤ ${field.maxLength} characters`);
  const text = parts.join(', ');
  return field.note === undefined ? text : `${text} (${field.note})`;
}
