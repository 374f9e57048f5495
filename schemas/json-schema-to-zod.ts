/**
 * Translates the JSON Schemas of table rows (the subset docs/type-mapping.md describes: `type`
 * names and lists, `minimum`/`maximum`, `pattern`, `anyOf`, `items`; `format`, `contentEncoding`
 * and `description` are annotations) into zod. One walk over the schema drives a builder, so the
 * zod built at run time (validation) and the zod code that codegen writes are the same translation.
 */
import { z } from 'zod';

type Json = Record<string, unknown>;

/** What the translation produces, per kind of value; `T` is a zod schema or the code of one. */
export interface ZodBuilder<T> {
  string(pattern: string | undefined): T;
  number(integer: boolean, minimum: number | undefined, maximum: number | undefined): T;
  boolean(): T;
  null(): T;
  /** Any JSON value (json/jsonb columns). */
  any(): T;
  array(items: T): T;
  union(options: T[]): T;
}

/** Builds zod schemas. */
export const runtimeBuilder: ZodBuilder<z.ZodType> = {
  string: (p) => (p === undefined ? z.string() : z.string().regex(new RegExp(p, 'u'))),
  number: (int, min, max) => {
    let n = int ? z.number().int() : z.number();
    if (min !== undefined) n = n.min(min);
    if (max !== undefined) n = n.max(max);
    return n;
  },
  boolean: () => z.boolean(),
  null: () => z.null(),
  any: () => z.json(),
  array: (items) => z.array(items),
  union: (options) => (options.length === 1 ? options[0]! : z.union(options as [z.ZodType, z.ZodType])),
};

/** Writes the TypeScript code of the same zod schemas (`z` must be in scope). */
export const codeBuilder: ZodBuilder<string> = {
  string: (p) => (p === undefined ? 'z.string()' : `z.string().regex(new RegExp(${JSON.stringify(p)}, 'u'))`),
  number: (int, min, max) =>
    (int ? 'z.number().int()' : 'z.number()') +
    (min !== undefined ? `.min(${min})` : '') +
    (max !== undefined ? `.max(${max})` : ''),
  boolean: () => 'z.boolean()',
  null: () => 'z.null()',
  any: () => 'z.json()',
  array: (items) => `z.array(${items})`,
  union: (options) => (options.length === 1 ? options[0]! : `z.union([${options.join(', ')}])`),
};

const TYPES = ['string', 'integer', 'number', 'boolean', 'null', 'array', 'object'] as const;

/** Translates one JSON Schema of the supported subset; throws naming an unsupported keyword. */
export function translateSchema<T>(schema: Json, b: ZodBuilder<T>): T {
  const anyOf = schema.anyOf as Json[] | undefined;
  if (anyOf) {
    // Each branch is the parent's constraints plus its own (the subset never repeats a keyword
    // in both, except `type`, which intersects).
    const { anyOf: _, ...rest } = schema;
    return b.union(anyOf.map((branch) => translateSchema(merge(rest, branch), b)));
  }
  const type = schema.type as string | string[] | undefined;
  if (type === undefined) {
    if (schema.pattern !== undefined || schema.items !== undefined || schema.minimum !== undefined)
      throw new TypeError(
        `a JSON Schema without "type" but with constraints is not supported: ${JSON.stringify(schema)}`,
      );
    return b.any();
  }
  const types = Array.isArray(type) ? type : [type];
  const options = types.map((t): T => {
    switch (t) {
      case 'string':
        return b.string(schema.pattern as string | undefined);
      case 'integer':
      case 'number':
        return b.number(
          t === 'integer',
          schema.minimum as number | undefined,
          schema.maximum as number | undefined,
        );
      case 'boolean':
        return b.boolean();
      case 'null':
        return b.null();
      case 'array':
        return b.array(schema.items === undefined ? b.any() : translateSchema(schema.items as Json, b));
      default:
        throw new TypeError(
          `JSON Schema type "${t}" is not supported in row schemas (supported: ${TYPES.join(', ')})`,
        );
    }
  });
  return b.union(options);
}

function merge(parent: Json, branch: Json): Json {
  const out: Json = { ...parent, ...branch };
  if (parent.type !== undefined && branch.type !== undefined) {
    const p = Array.isArray(parent.type) ? parent.type : [parent.type];
    const c = Array.isArray(branch.type) ? branch.type : [branch.type];
    out.type = p.filter((t) => c.includes(t));
  } else if (parent.type !== undefined) out.type = parent.type;
  return out;
}

/** Property schemas of a row schema, in column order. */
export function rowProperties(rowSchema: Json): [string, Json][] {
  return Object.entries((rowSchema.properties ?? {}) as Record<string, Json>);
}

/** Columns a row must have (the schema's `required`; every column when it has none). */
export function requiredColumns(rowSchema: Json): Set<string> {
  const r = rowSchema.required as string[] | undefined;
  return new Set(r ?? rowProperties(rowSchema).map(([n]) => n));
}

/** The zod schema of a row (its columns and no others; `required` ones present), built at run time. */
export function rowZod(rowSchema: Json): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  const required = requiredColumns(rowSchema);
  for (const [name, s] of rowProperties(rowSchema)) {
    const t = translateSchema(s, runtimeBuilder);
    shape[name] = required.has(name) ? t : t.optional();
  }
  return z.strictObject(shape);
}
