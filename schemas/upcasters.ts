/**
 * Upcasting: a consumer registers, per table, functions that turn a row of version N into a row
 * of version N+1, so a handler written for the latest version also processes history recorded
 * under older versions (event-sourcing's usual answer to schema evolution, as in Axon or Marten).
 *
 * ```ts
 * const upcasters = defineUpcasters({
 *   'public.orders': {
 *     1: (row) => ({ ...row, currency: 'EUR' }),            // v2 added NOT NULL currency DEFAULT 'EUR'
 *     2: ({ note, ...row }) => ({ ...row, comment: note }), // v3 renamed note → comment
 *   },
 * });
 * const latest = upcast(upcasters, event); // a fact or delta of any version, as the latest
 * ```
 *
 * `upcast` applies the chain vN → vN+1 → … to the fact's `row` (and `key`), or to each side of a
 * delta's `changes` (the old values and the new values, each as a partial row), sets
 * `data.schemaVersion` and `dataschema` to the version reached, and returns a new event (the input
 * is not changed). An event already at the latest registered version, or of a table without
 * upcasters, is returned as it is. A missing step in a chain is an error when the upcasters are
 * defined, not when an old event arrives.
 */
import { dataschemaUri } from './registry.js';

/** A row as events carry it: column name → JSON value. */
export type UpcastRow = Record<string, unknown>;

/**
 * Turns a row of version N into a row of version N+1. For deltas it is called with the partial
 * rows of old and new values: return only columns derived from columns present in the input.
 */
export type Upcaster = (row: UpcastRow, context: UpcastContext) => UpcastRow;

/** What an upcaster is told about the event. */
export interface UpcastContext {
  readonly table: string;
  /** The version `row` is in. */
  readonly from: number;
  /** `row` is a whole row (a fact) or a partial one (a side of a delta's changes, or a key). */
  readonly partial: boolean;
}

/** Upcasters by table ("schema.table"), by the version they start from. */
export type UpcasterSpec = Readonly<Record<string, Readonly<Record<number, Upcaster>>>>;

/** Checked upcasters: per table, the steps from the lowest version to `latest`. */
export interface Upcasters {
  readonly tables: ReadonlyMap<
    string,
    { readonly first: number; readonly latest: number; readonly steps: ReadonlyMap<number, Upcaster> }
  >;
}

/** Checks the chains (no gaps) and freezes them. */
export function defineUpcasters(spec: UpcasterSpec): Upcasters {
  const tables = new Map<string, { first: number; latest: number; steps: Map<number, Upcaster> }>();
  for (const [table, byVersion] of Object.entries(spec)) {
    const versions = Object.keys(byVersion)
      .map(Number)
      .sort((a, b) => a - b);
    if (!versions.length) continue;
    for (const v of versions)
      if (!Number.isInteger(v) || v < 1)
        throw new TypeError(`upcaster of ${table}: "${v}" is not a schemaVersion (1, 2, …)`);
    const first = versions[0]!;
    const latest = versions[versions.length - 1]! + 1;
    for (let v = first; v < latest; v++) {
      if (!byVersion[v])
        throw new TypeError(
          `upcasters of ${table} go from version ${first} to ${latest} but have no step from version ${v}: add ${v}: (row) => … (return the row unchanged if nothing changed)`,
        );
    }
    tables.set(table, { first, latest, steps: new Map(versions.map((v) => [v, byVersion[v]!] as const)) });
  }
  return Object.freeze({ tables });
}

/** A fact or delta as consumers parse it (see schemas/events.ts). */
export interface UpcastableEvent {
  readonly dataschema?: string | undefined;
  readonly data: {
    readonly table: string;
    readonly schemaVersion: number;
    readonly row?: UpcastRow | null;
    readonly key?: UpcastRow | null;
    readonly changes?: Record<string, { old?: unknown; new?: unknown }>;
  };
}

/** The latest version upcasters reach for a table, or null when it has none. */
export function latestVersion(upcasters: Upcasters, table: string): number | null {
  return upcasters.tables.get(table)?.latest ?? null;
}

/** The event as the latest version of its table (see the module comment). */
export function upcast<E extends UpcastableEvent>(upcasters: Upcasters, event: E): E {
  const chain = upcasters.tables.get(event.data.table);
  const from = event.data.schemaVersion;
  if (!chain || from >= chain.latest) return event;
  if (from < chain.first)
    throw new TypeError(
      `${event.data.table} event of schemaVersion ${from} is older than the first upcaster (from version ${chain.first}): add upcasters from version ${from}`,
    );
  const table = event.data.table;
  const run = (row: UpcastRow, partial: boolean): UpcastRow => {
    let r = row;
    for (let v = from; v < chain.latest; v++) r = chain.steps.get(v)!(r, { table, from: v, partial });
    return r;
  };
  const data: Record<string, unknown> = { ...event.data, schemaVersion: chain.latest };
  if (event.data.row) data.row = run(event.data.row, false);
  if (event.data.key && Object.keys(event.data.key).length) data.key = run(event.data.key, true);
  if (event.data.changes) {
    const olds: UpcastRow = {};
    const news: UpcastRow = {};
    for (const [c, ch] of Object.entries(event.data.changes)) {
      if ('old' in ch) olds[c] = ch.old;
      if ('new' in ch) news[c] = ch.new;
    }
    const o = Object.keys(olds).length ? run(olds, true) : {};
    const n = Object.keys(news).length ? run(news, true) : {};
    const changes: Record<string, { old?: unknown; new?: unknown }> = {};
    for (const c of new Set([...Object.keys(o), ...Object.keys(n)])) {
      const ch: { old?: unknown; new?: unknown } = {};
      if (c in o) ch.old = o[c];
      if (c in n) ch.new = n[c];
      changes[c] = ch;
    }
    data.changes = changes;
  }
  const out: Record<string, unknown> = { ...(event as object), data };
  if (event.dataschema !== undefined) out.dataschema = dataschemaUri(table, chain.latest);
  return out as unknown as E;
}
