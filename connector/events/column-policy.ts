/**
 * Column exclusion and masking (docs/masking.md): what of a row may leave the connector.
 *
 * Applied at the one point every row value passes on its way into an event: a column's compiled
 * mapper (ColumnInfo.mapper in tables.ts), which turns PostgreSQL's text into the JSON fragment
 * that facts, deltas (old and new values), snapshot facts, rows read back from the database and
 * `sluice verify` all use. An excluded column is removed from the table's description itself, so
 * it is never read by a snapshot or verification query, never mapped, never published and absent
 * from the table's schema in the registry. A masked column's mapper never sees the value's type
 * mapping (so no mapping error can print the value): it returns the masked fragment directly.
 *
 * - `hash`: HMAC-SHA-256 keyed with the salt over the value's PostgreSQL text (UTF-8), as 64
 *   lower-case hex digits. Equal values give equal hashes (joinable across tables and time), and
 *   without the salt a low-entropy value (a phone number) cannot be found by trying candidates.
 * - `redact`: the fixed string {@link REDACTED}.
 * - `null`: JSON null, always.
 *
 * NULL stays null under `hash` and `redact` (as with Debezium's column masks). Identity (key)
 * columns cannot be masked or excluded: their values are in every subject and key object.
 */
import { createHmac } from 'node:crypto';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { JsonSchema } from './type-mapping.js';
import type { MaskKind, ValueMapper } from '../ports.js';

/** How a column's values are masked. */
export const MaskKinds = ['hash', 'redact', 'null'] as const satisfies readonly MaskKind[];
export type { MaskKind };

/** What `redact` publishes in place of a value. */
export const REDACTED = '****';

/** The policy of one table, as configured (`columns."schema.table"`). */
export interface TableColumnsConfig {
  /** Columns left out of events and of the table's schema. */
  readonly exclude?: readonly string[];
  /** Masked columns and how. */
  readonly mask?: Readonly<Record<string, MaskKind>>;
}

/** `columns` of the configuration: per "schema.table". */
export type ColumnsConfig = Readonly<Record<string, TableColumnsConfig>>;

/** What the published type of a masked column becomes (hash and redact publish text). */
export const MASKED_TEXT_TYPE = { name: 'pg_catalog.text', oid: 25, typeMod: -1 } as const;

/** The compiled policy of one table. */
export interface TablePolicy {
  /** "schema.table" */
  readonly table: string;
  /** Every column the policy names (excluded or masked). */
  readonly columns: readonly string[];
  /** Whether the column is left out entirely. */
  excluded(column: string): boolean;
  /** How the column is masked, if it is. */
  mask(column: string): MaskKind | undefined;
  /** The mapper of a masked column: text of a non-NULL value → JSON fragment. */
  mapper(kind: MaskKind): ValueMapper;
}

/**
 * The whole policy. The salt is held in a private field, used only as the HMAC key, and never
 * part of any message, log line or error.
 */
export class ColumnPolicy {
  readonly #tables: ReadonlyMap<string, TablePolicy>;
  readonly #mappers: Readonly<Record<MaskKind, ValueMapper>>;

  /** A policy that changes nothing. */
  static readonly none = new ColumnPolicy({}, undefined);

  constructor(config: ColumnsConfig | undefined, salt: string | undefined) {
    config ??= {};
    const hashes = Object.values(config).some((t) => Object.values(t.mask ?? {}).includes('hash'));
    if (hashes && !salt) {
      throw new SluiceError(
        ErrorCodes.config,
        'columns: a column is masked with "hash" but no salt is set.',
        {
          hint: 'Set maskSalt (SLUICE_MASK_SALT) to a long random secret, e.g. the output of `openssl rand -hex 32`.',
        },
      );
    }
    const key = Buffer.from(salt ?? '', 'utf8');
    const redacted = JSON.stringify(REDACTED);
    this.#mappers = Object.freeze({
      hash: (text: string) => '"' + createHmac('sha256', key).update(text, 'utf8').digest('hex') + '"',
      redact: () => redacted,
      null: () => 'null',
    });
    const tables = new Map<string, TablePolicy>();
    for (const [table, t] of Object.entries(config)) {
      const exclude = new Set(t.exclude ?? []);
      const mask = new Map(Object.entries(t.mask ?? {}));
      for (const c of exclude) {
        if (mask.has(c)) {
          throw new SluiceError(
            ErrorCodes.config,
            `columns."${table}": column ${c} is both excluded and masked.`,
            { hint: 'Keep it in one of `exclude` and `mask`.' },
          );
        }
      }
      if (exclude.size === 0 && mask.size === 0) continue;
      const mappers = this.#mappers;
      tables.set(
        table,
        Object.freeze({
          table,
          columns: Object.freeze([...exclude, ...mask.keys()]),
          excluded: (c: string) => exclude.has(c),
          mask: (c: string) => mask.get(c),
          mapper: (k: MaskKind) => mappers[k],
        }),
      );
    }
    this.#tables = tables;
  }

  /** The policy of a table ("schema.table"), or null when none of its columns is touched. */
  forTable(table: string): TablePolicy | null {
    return this.#tables.get(table) ?? null;
  }

  /** Tables the policy names. */
  tables(): string[] {
    return [...this.#tables.keys()];
  }

  /** Never the salt. */
  toJSON(): object {
    return { tables: this.tables() };
  }
}

/**
 * Checks a table's policy against the columns it has and its identity: a column the table does
 * not have, or an identity column excluded or masked, is a configuration error (one sentence with
 * the fix). A misspelt column would otherwise be published in clear, so it is refused, not warned.
 */
export function checkTablePolicy(
  policy: TablePolicy,
  columns: readonly string[],
  identity: readonly string[],
): SluiceError | null {
  for (const c of policy.columns) {
    if (!columns.includes(c)) {
      return new SluiceError(ErrorCodes.config, `columns."${policy.table}": the table has no column ${c}.`, {
        hint: `Fix the column name or remove it (its columns: ${columns.join(', ')}).`,
      });
    }
  }
  return keyViolation(policy, identity);
}

/**
 * Checks the whole policy against the database at start: every table it names must be captured
 * (`captured`, "schema.table" → relation id), and each table's columns pass {@link checkTablePolicy}.
 * Throws the first problem as a configuration error: a misspelt name would publish in clear.
 */
export async function checkColumnPolicy(
  policy: ColumnPolicy,
  captured: ReadonlyMap<string, number>,
  columnsOf: (relationId: number) => Promise<readonly { name: string; identity: boolean }[]>,
): Promise<void> {
  for (const name of policy.tables()) {
    const oid = captured.get(name);
    if (oid === undefined) {
      throw new SluiceError(ErrorCodes.config, `columns."${name}": no captured table is named ${name}.`, {
        hint: 'Fix the name (schema.table, as in the catalog), add the table to `tables`, or remove it from `columns`.',
      });
    }
    const cols = await columnsOf(oid);
    const refused = checkTablePolicy(
      policy.forTable(name)!,
      cols.map((c) => c.name),
      cols.filter((c) => c.identity).map((c) => c.name),
    );
    if (refused) throw refused;
  }
}

/** An identity column the policy excludes or masks, as a configuration error; null when none. */
export function keyViolation(policy: TablePolicy, identity: readonly string[]): SluiceError | null {
  const c = identity.find((n) => policy.excluded(n) || policy.mask(n) !== undefined);
  if (c === undefined) return null;
  return new SluiceError(
    ErrorCodes.config,
    `columns."${policy.table}": ${c} is part of the table's identity (primary key or replica identity), which appears in every subject and key, so it cannot be ${policy.excluded(c) ? 'excluded' : 'masked'}.`,
    {
      hint: 'Remove it from the policy, or give the table a key without personal data (e.g. a surrogate id).',
    },
  );
}

/**
 * JSON Schema of a masked column's value: what consumers get. `x-pg-type` is the published type
 * (text for hash and redact: read models build their replica columns from it), the source's type
 * is kept in `x-source-pg-type`. A `null` mask's column is always null; the others are null when
 * the value is.
 */
export function maskedColumnSchema(kind: MaskKind, pgType: string, nullable: boolean): JsonSchema {
  const orNull = (t: string) => (nullable ? [t, 'null'] : t);
  switch (kind) {
    case 'hash':
      return {
        type: orNull('string'),
        pattern: '^[0-9a-f]{64}$',
        'x-pg-type': MASKED_TEXT_TYPE.name,
        'x-source-pg-type': pgType,
        'x-sluice-mask': 'hash',
        description: 'HMAC-SHA-256 of the value (keyed with the mask salt), hex',
      };
    case 'redact':
      return {
        type: orNull('string'),
        pattern: '^\\*{4}$',
        'x-pg-type': MASKED_TEXT_TYPE.name,
        'x-source-pg-type': pgType,
        'x-sluice-mask': 'redact',
        description: 'Redacted',
      };
    case 'null':
      return {
        type: 'null',
        'x-pg-type': pgType,
        'x-sluice-mask': 'null',
        description: 'Masked: always null',
      };
  }
}
