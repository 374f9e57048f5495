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
 * What changed from version `a` to version `b` of one table. Columns are matched by `attnum` when
 * both versions have them, else by name and position (see below); a matched column under another
 * name was renamed.
 */
export function diffVersions(a: StoredSchemaVersion, b: StoredSchemaVersion): SchemaDiff {
  const before = columnsOf(a);
  const after = columnsOf(b);
  const changes: SchemaChange[] = [];
  const matched = new Map<ColumnShape, ColumnShape>(); // after → before
  const renamed = new Set<ColumnShape>();
  const match = (c: ColumnShape, old: ColumnShape) => {
    matched.set(c, old);
    if (old.name !== c.name) renamed.add(c);
  };
  if ([...before, ...after].every((c) => c.attnum !== undefined)) {
    // Both versions were recorded while the catalog matched them: attnums identify columns.
    const byAttnum = new Map(before.map((c) => [c.attnum!, c]));
    for (const c of after) {
      const old = byAttnum.get(c.attnum!);
      if (old) match(c, old);
    }
  } else {
    // By position: columns keep their order, a drop removes one, ADD COLUMN appends at the end. A
    // new name between two surviving columns is a rename of the old column that was there; at the
    // end, an unmatched old and new column of the same type count as a rename too (a drop and an
    // add of the last column with no write in between look the same, and are breaking as well).
    const oldIdx = new Map(before.map((c, i) => [c.name, i]));
    const anchors = after
      .map((c, j) => [oldIdx.get(c.name), j] as const)
      .filter((p): p is readonly [number, number] => p[0] !== undefined);
    for (const [i, j] of anchors) match(after[j]!, before[i]!);
    let prevOld = -1;
    let prevNew = -1;
    for (const [i, j] of [...anchors, [before.length, after.length] as const]) {
      const og = before.slice(prevOld + 1, i);
      const ng = after.slice(prevNew + 1, j);
      const trailing = i === before.length;
      const pairs = og.length === ng.length && (!trailing || og.every((o, k) => sameType(o, ng[k]!)));
      if (pairs) og.forEach((o, k) => match(ng[k]!, o));
      prevOld = i;
      prevNew = j;
    }
  }
  for (const c of renamed) {
    const old = matched.get(c)!;
    changes.push({
      kind: 'renamed',
      column: c.name,
      from: old.name,
      to: c.name,
      breaking: true,
      reason: `column ${old.name} was renamed to ${c.name}: readers of "${old.name}" get nothing from new events`,
    });
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
