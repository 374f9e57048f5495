/**
 * Compatibility of two versions of a table for consumers: what changed between them, and whether
 * a handler written against the older version still reads events of the newer one correctly
 * (backward compatible), with the reason for each change. Pure comparison of registry entries;
 * `sluice schemas diff` prints it. Rules (docs/schemas.md#compatibility):
 *
 * - added nullable column, or NOT NULL with a default: compatible (old events lack it; readers that
 *   ignore unknown members are unaffected, an upcaster can fill it);
 * - added NOT NULL column without a default: breaking (old events have no value and null is not allowed);
 * - dropped, renamed column: breaking (readers of that member get nothing);
 * - retyped column: breaking when its JSON form changes (int4 → int8: number → string); compatible
 *   when the JSON form is the same (varchar(10) → text);
 * - NOT NULL dropped: breaking (null where a value was guaranteed); NOT NULL added: compatible;
 * - key columns changed: breaking (subjects and `data.key` change).
 */
import { columnsOf, keyOf, type ColumnShape, type StoredSchemaVersion } from './registry.js';

/** One difference between two versions. */
export interface SchemaChange {
  readonly kind: 'added' | 'dropped' | 'renamed' | 'retyped' | 'nullability' | 'key';
  /** The column (its new name for a rename); absent for a key change. */
  readonly column?: string;
  /** Old name, type, nullability or key, as text. */
  readonly from?: string;
  /** New name, type, nullability or key, as text. */
  readonly to?: string;
  readonly breaking: boolean;
  /** One sentence: why this is (in)compatible for consumers. */
  readonly reason: string;
}

/** Result of {@link diffVersions}. */
export interface SchemaDiff {
  readonly table: string;
  readonly from: number;
  readonly to: number;
  readonly changes: readonly SchemaChange[];
  /** True when no change is breaking. */
  readonly compatible: boolean;
}

function typeText(c: ColumnShape): string {
  return c.typeMod >= 0 ? `${c.type}(typmod ${c.typeMod})` : c.type;
}

/** The JSON form of a column: its JSON Schema without annotations. */
function jsonForm(v: StoredSchemaVersion, column: string): string {
  const props = (v.schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const strip = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(strip);
    if (s === null || typeof s !== 'object') return s;
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(s)) {
      if (k === 'x-pg-type' || k === 'description' || k === 'type') continue;
      out[k] = strip(val);
    }
    // Nullability is compared on its own; only the non-null types count here.
    const t = (s as { type?: unknown }).type;
    if (t !== undefined) out.type = (Array.isArray(t) ? t : [t]).filter((x) => x !== 'null').sort();
    return out;
  };
  return JSON.stringify(strip(props[column] ?? null));
}

function sameType(a: ColumnShape, b: ColumnShape): boolean {
  if (a.typeOid && b.typeOid) return a.typeOid === b.typeOid && a.typeMod === b.typeMod;
  return a.type === b.type;
}

/**
 * What changed from version `a` to version `b` of one table. A column whose `attnum` is the same
 * under another name was renamed; without attnums (entries recorded before they were kept) a rename
 * shows as a drop and an add, both breaking anyway.
 */
export function diffVersions(a: StoredSchemaVersion, b: StoredSchemaVersion): SchemaDiff {
  const before = columnsOf(a);
  const after = columnsOf(b);
  const changes: SchemaChange[] = [];
  const matched = new Map<ColumnShape, ColumnShape>(); // after → before
  const byName = new Map(before.map((c) => [c.name, c]));
  const byAttnum = new Map(before.filter((c) => c.attnum !== undefined).map((c) => [c.attnum!, c]));
  const afterNames = new Set(after.map((c) => c.name));
  for (const c of after) {
    const same = byName.get(c.name);
    if (same && (same.attnum === undefined || c.attnum === undefined || same.attnum === c.attnum)) {
      matched.set(c, same);
      continue;
    }
    const old = c.attnum !== undefined ? byAttnum.get(c.attnum) : undefined;
    if (old && !afterNames.has(old.name)) {
      matched.set(c, old);
      changes.push({
        kind: 'renamed',
        column: c.name,
        from: old.name,
        to: c.name,
        breaking: true,
        reason: `column ${old.name} was renamed to ${c.name}: readers of "${old.name}" get nothing from new events`,
      });
    }
  }
  const used = new Set(matched.values());
  for (const c of before) {
    if (used.has(c)) continue;
    changes.push({
      kind: 'dropped',
      column: c.name,
      from: typeText(c),
      breaking: true,
      reason: `column ${c.name} was dropped: new events no longer carry it`,
    });
  }
  for (const c of after) {
    const old = matched.get(c);
    if (!old) {
      const breaking = !c.nullable && c.hasDefault !== true;
      changes.push({
        kind: 'added',
        column: c.name,
        to: typeText(c) + (c.nullable ? '' : ' NOT NULL') + (c.hasDefault ? ' DEFAULT …' : ''),
        breaking,
        reason: c.nullable
          ? `nullable column ${c.name} was added: events of older versions lack it, which reads as null`
          : c.hasDefault
            ? `NOT NULL column ${c.name} with a default was added: older events lack it; an upcaster can fill in the default`
            : `NOT NULL column ${c.name} without a default was added: older events have no value for it and null is not allowed`,
      });
      continue;
    }
    if (!sameType(old, c)) {
      const sameJson = jsonForm(a, old.name) === jsonForm(b, c.name);
      changes.push({
        kind: 'retyped',
        column: c.name,
        from: typeText(old),
        to: typeText(c),
        breaking: !sameJson,
        reason: sameJson
          ? `column ${c.name} changed type from ${typeText(old)} to ${typeText(c)}, with the same JSON form`
          : `column ${c.name} changed type from ${typeText(old)} to ${typeText(c)}: its JSON form changed`,
      });
    }
    if (old.nullable !== c.nullable) {
      changes.push({
        kind: 'nullability',
        column: c.name,
        from: old.nullable ? 'NULL' : 'NOT NULL',
        to: c.nullable ? 'NULL' : 'NOT NULL',
        breaking: c.nullable,
        reason: c.nullable
          ? `column ${c.name} may now be null: readers that relied on a value break`
          : `column ${c.name} is now NOT NULL: every value readers could get before is still possible`,
      });
    }
  }
  const keyA = keyOf(a).join(', ');
  const keyB = keyOf(b).join(', ');
  const renames = new Map([...matched].map(([n, o]) => [o.name, n.name]));
  const keyARenamed = keyOf(a)
    .map((k) => renames.get(k) ?? k)
    .join(', ');
  if (keyARenamed !== keyB) {
    changes.push({
      kind: 'key',
      from: keyA || '(none)',
      to: keyB || '(none)',
      breaking: true,
      reason: `the key changed from (${keyA || 'none'}) to (${keyB || 'none'}): subjects and data.key of the same rows change`,
    });
  }
  return {
    table: b.table ?? a.table ?? '',
    from: a.version,
    to: b.version,
    changes,
    compatible: changes.every((c) => !c.breaking),
  };
}
