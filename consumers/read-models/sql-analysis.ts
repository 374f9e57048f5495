/**
 * What a read model's SELECT means for incremental maintenance, derived from PostgreSQL's own parse
 * tree: the base tables it reads (every occurrence), its join graph, and for each occurrence the
 * "restricted" query that finds the model keys a set of changed rows of that occurrence feeds.
 * Anything outside the supported subset is refused with one sentence naming the construct.
 *
 * Why the restricted queries look the way they do (see docs/read-models.md, "How it is kept exact"):
 * - the occurrence is replaced by a placeholder that the maintainer turns into "the changed rows of
 *   this table" (evaluated before and after the batch is applied);
 * - outer joins whose nullable side holds the occurrence become inner joins, else every preserved
 *   row (null-extended) would come back;
 * - WHERE keeps only join conditions between occurrences that no outer join can null; HAVING,
 *   GROUP BY and ORDER BY go: a filter can hide a key whose row changed (an anti-join), and a
 *   superset of keys is always safe;
 * - the select list becomes `DISTINCT <key expressions>`.
 */
import { deparseStatement, parseStatements, SqlSyntaxError, type AstNode } from './sql-parser.js';

/** A table the model reads. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

/** One occurrence of a table in the FROM clause (a self-join has two). */
export interface Occurrence extends TableRef {
  readonly index: number;
  /** The name the query refers to it by: its alias, else the table name. */
  readonly alias: string;
  /** True when an outer join can null its columns (it is on the nullable side of a LEFT/RIGHT JOIN). */
  readonly nullable: boolean;
}

/** An edge of the join graph: a join condition between occurrences. */
export interface JoinEdge {
  /** Aliases of the occurrences the condition references, sorted. */
  readonly aliases: readonly string[];
  readonly kind: 'inner' | 'left' | 'right' | 'where';
  readonly condition: string;
}

/** The query that finds the model keys fed by changed rows of one occurrence. */
export interface RestrictedQuery {
  readonly occurrence: number;
  readonly schema: string;
  readonly table: string;
  /** SQL with `placeholder` where the changed rows of the table go (a relation expression). */
  readonly sql: string;
  readonly placeholder: string;
}

/** Everything the maintainer needs to know about one model's SQL. */
export interface ModelPlan {
  readonly key: readonly string[];
  /** The model's SELECT with every table schema-qualified (what is run on the read database). */
  readonly sql: string;
  /** Distinct base tables, in order of first occurrence. */
  readonly tables: readonly TableRef[];
  readonly occurrences: readonly Occurrence[];
  readonly joins: readonly JoinEdge[];
  readonly restricted: readonly RestrictedQuery[];
}

/** A query outside the supported subset, or a key that does not fit it. */
export class UnsupportedSqlError extends Error {
  constructor(
    message: string,
    readonly construct: string,
  ) {
    super(message);
  }
}

/** Functions whose result changes from one run to the next: a model using them cannot be exact. */
const NON_DETERMINISTIC = new Set([
  'now',
  'random',
  'random_normal',
  'setseed',
  'clock_timestamp',
  'statement_timestamp',
  'transaction_timestamp',
  'timeofday',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'nextval',
  'currval',
  'lastval',
  'setval',
  'txid_current',
  'pg_current_xact_id',
  'current_setting',
  'pg_backend_pid',
  'inet_client_addr',
]);

/** Aggregate functions recognised in a key check (a key cannot be an aggregate). */
const AGGREGATES = new Set([
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'string_agg',
  'array_agg',
  'jsonb_agg',
  'json_agg',
  'jsonb_object_agg',
  'json_object_agg',
  'bool_and',
  'bool_or',
  'every',
  'bit_and',
  'bit_or',
  'stddev',
  'stddev_pop',
  'stddev_samp',
  'variance',
  'var_pop',
  'var_samp',
]);

const PLACEHOLDER = (i: number) => `__sluice_changed_${i}__`;

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
/** The single `{ Type: body }` member of a node. */
const kindOf = (n: Obj): [string, Obj] => {
  const k = Object.keys(n)[0]!;
  return [k, (n[k] as Obj) ?? {}];
};
const sval = (n: Obj): string | undefined => obj(n.String)?.sval as string | undefined;
const funcName = (fc: Obj): string => {
  const parts = list(fc.funcname).map((p) => sval(p) ?? '');
  return parts[parts.length - 1]!.toLowerCase();
};

function refuse(construct: string, why: string): never {
  throw new UnsupportedSqlError(`${construct} is not supported in a read model: ${why}`, construct);
}

/**
 * Analyses a model's SELECT. `defaultSchema` qualifies unqualified table names (the source's
 * search_path is assumed to be it). Needs `loadSqlParser()` to have resolved.
 */
export function analyzeModel(sql: string, key: readonly string[], defaultSchema = 'public'): ModelPlan {
  let stmts: AstNode[];
  try {
    stmts = parseStatements(sql);
  } catch (e) {
    if (e instanceof SqlSyntaxError) {
      const at = e.position !== null ? ` at character ${e.position + 1}` : '';
      throw new UnsupportedSqlError(`the SQL does not parse${at}: ${e.message}`, 'syntax');
    }
    throw e;
  }
  if (stmts.length !== 1) refuse(`${stmts.length} statements`, 'a read model is exactly one SELECT');
  const [kind, select] = kindOf(stmts[0]!);
  if (kind !== 'SelectStmt') refuse(kind.replace(/Stmt$/, '').toUpperCase(), 'a read model is a SELECT');
  checkSelect(select);
  if (key.length === 0) refuse('an empty key', 'name the output columns that identify a row');

  // Occurrences, qualified; nullable flags from the join tree.
  const occurrences: Occurrence[] = [];
  const joins: JoinEdge[] = [];
  for (const item of list(select.fromClause)) collectFrom(item, false, occurrences, joins, defaultSchema);
  const byAlias = new Map<string, Occurrence>();
  for (const o of occurrences) {
    if (byAlias.has(o.alias))
      refuse(`the name "${o.alias}" used twice in FROM`, 'give each occurrence its own alias');
    byAlias.set(o.alias, o);
  }
  const hasOuter = occurrences.some((o) => o.nullable);

  // WHERE conjuncts that are join conditions between occurrences.
  const conjuncts = splitAnd(select.whereClause);
  const keptWhere: Obj[] = [];
  for (const c of conjuncts) {
    const refs = columnQualifiers(c);
    if (refs.unqualified || refs.aliases.size < 2) continue;
    const occs = [...refs.aliases].map((a) => byAlias.get(a));
    if (occs.some((o) => !o || o.nullable)) continue;
    keptWhere.push(c);
    joins.push({ aliases: [...refs.aliases].sort(), kind: 'where', condition: exprSql(c) });
  }

  // Key expressions.
  const outputs = outputColumns(select);
  const keyExprs: Obj[] = [];
  for (const k of key) {
    const matches = outputs.filter((o) => o.name === k);
    if (matches.length === 0)
      refuse(
        `key column "${k}"`,
        `it is not an output column of the SELECT (outputs: ${outputs.map((o) => o.name).join(', ')})`,
      );
    if (matches.length > 1) refuse(`key column "${k}"`, 'more than one output column has that name');
    const expr = matches[0]!.expr;
    if (containsAggregate(expr))
      refuse(`key column "${k}"`, 'it is an aggregate; a key must identify a group');
    const refs = columnQualifiers(expr);
    if (hasOuter && refs.unqualified)
      refuse(
        `key column "${k}"`,
        'with an outer join, write its columns qualified (alias.column) so Sluice can tell which table they come from',
      );
    for (const a of refs.aliases) {
      const o = byAlias.get(a);
      if (!o) refuse(`key column "${k}"`, `it refers to "${a}", which is not a table in FROM`);
      if (o.nullable)
        refuse(
          `key column "${k}"`,
          `it comes from "${a}" on the nullable side of an outer join, so a row's key would change when a match appears; take the key from the preserved side`,
        );
    }
    keyExprs.push(expr);
  }

  const full = clone(select);
  qualifyTables(full.fromClause, defaultSchema);
  const restricted = occurrences.map((o): RestrictedQuery => {
    const q = clone(full);
    q.targetList = keyExprs.map((e, i) => ({ ResTarget: { name: key[i], val: clone(e) } }));
    q.distinctClause = [{}];
    delete q.groupClause;
    delete q.havingClause;
    delete q.sortClause;
    if (keptWhere.length === 0) delete q.whereClause;
    else if (keptWhere.length === 1) q.whereClause = clone(keptWhere[0]!);
    else q.whereClause = { BoolExpr: { boolop: 'AND_EXPR', args: keptWhere.map(clone) } };
    const counter = { i: 0 };
    q.fromClause = list(q.fromClause).map((item) => restrictFrom(item, o.index, counter).node);
    return {
      occurrence: o.index,
      schema: o.schema,
      table: o.table,
      sql: deparseStatement({ SelectStmt: q }),
      placeholder: PLACEHOLDER(o.index),
    };
  });
  const tables: TableRef[] = [];
  for (const o of occurrences)
    if (!tables.some((t) => t.schema === o.schema && t.table === o.table))
      tables.push({ schema: o.schema, table: o.table });
  return {
    key: [...key],
    sql: deparseStatement({ SelectStmt: full }),
    tables,
    occurrences,
    joins,
    restricted,
  };
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function exprSql(expr: Obj): string {
  const s = deparseStatement({
    SelectStmt: { targetList: [{ ResTarget: { val: expr } }], op: 'SETOP_NONE' },
  });
  return s.replace(/^SELECT\s+/, '').trim();
}

/** Statement-level constructs; then every expression. */
function checkSelect(s: Obj): void {
  if (s.op && s.op !== 'SETOP_NONE') {
    const op = String(s.op).replace('SETOP_', '');
    refuse(
      `${op} (a set operation)`,
      'a model is one select–project–join–group query; make one model per branch',
    );
  }
  if (s.withClause) refuse('WITH (a common table expression)', 'write the query with joins instead');
  if (s.valuesLists) refuse('VALUES', 'a model reads source tables');
  if (s.limitCount || s.limitOffset)
    refuse('LIMIT/OFFSET', 'which rows fall inside the limit changes with rows far away from the change');
  const distinct = list(s.distinctClause);
  if (distinct.some((d) => Object.keys(d).length > 0))
    refuse('DISTINCT ON', 'which row is kept depends on rows outside the changed ones; use GROUP BY');
  if (s.lockingClause) refuse('FOR UPDATE/SHARE', 'a model only reads');
  if (s.intoClause) refuse('SELECT INTO', 'the model table is created by Sluice');
  if (s.windowClause) refuse('WINDOW', 'window functions depend on rows outside the changed ones');
  if (list(s.fromClause).length === 0) refuse('a SELECT without FROM', 'a model reads source tables');
  for (const g of list(s.groupClause)) {
    const [k] = kindOf(g);
    if (k === 'GroupingSet') refuse('GROUPING SETS/ROLLUP/CUBE', 'a model row has one key');
  }
  for (const t of list(s.targetList)) {
    const rt = obj(t.ResTarget);
    const cr = obj(obj(rt?.val)?.ColumnRef);
    if (cr && list(cr.fields).some((f) => 'A_Star' in f))
      refuse('SELECT *', 'list the output columns, so the model keeps its shape when a source table changes');
    walkExpr(rt?.val, 'the select list');
  }
  walkExpr(s.whereClause, 'WHERE');
  walkExpr(s.havingClause, 'HAVING');
  for (const g of list(s.groupClause)) walkExpr(g, 'GROUP BY');
  for (const f of list(s.fromClause)) checkFrom(f);
  if (list(s.groupClause).length === 0 && list(s.targetList).some((t) => containsAggregate(t)))
    refuse(
      'an aggregate without GROUP BY',
      'a model of a single row over whole tables is not supported yet; add GROUP BY',
    );
}

function checkFrom(n: Obj): void {
  const [k, b] = kindOf(n);
  switch (k) {
    case 'RangeVar':
      if (b.inh === false) refuse('ONLY', 'a model reads whole tables');
      return;
    case 'JoinExpr': {
      if (b.jointype === 'JOIN_FULL')
        refuse(
          'FULL JOIN',
          'it is not supported yet; use LEFT JOIN from the table whose rows identify the model',
        );
      if (!['JOIN_INNER', 'JOIN_LEFT', 'JOIN_RIGHT'].includes(String(b.jointype)))
        refuse(String(b.jointype), 'only inner, left and right joins are supported');
      checkFrom(obj(b.larg)!);
      checkFrom(obj(b.rarg)!);
      walkExpr(b.quals, 'a join condition');
      return;
    }
    case 'RangeSubselect':
      refuse('a subquery in FROM', 'write it as joins (and GROUP BY) over the tables themselves');
      break;
    case 'RangeFunction':
      refuse('a function in FROM', 'a model reads source tables');
      break;
    default:
      refuse(k, 'only tables and joins may appear in FROM');
  }
}

/** Walks an expression, refusing what cannot be maintained incrementally. */
function walkExpr(v: unknown, where: string): void {
  if (Array.isArray(v)) {
    for (const x of v) walkExpr(x, where);
    return;
  }
  const n = obj(v);
  if (!n) return;
  for (const [k, b] of Object.entries(n)) {
    const body = obj(b);
    if (k === 'SubLink') {
      refuse(
        `a subquery in ${where}`,
        'it is evaluated per row against whole tables, so a change elsewhere would go unseen; use a join',
      );
    }
    if (k === 'SQLValueFunction')
      refuse(
        'CURRENT_DATE/CURRENT_TIME/CURRENT_USER and similar',
        'their value changes without any row changing, so the model could not stay equal to the query',
      );
    if (k === 'ParamRef') refuse('a parameter ($n)', 'a model is a complete query');
    if (k === 'GroupingFunc') refuse('GROUPING()', 'grouping sets are not supported');
    if (k === 'FuncCall' && body) {
      const name = funcName(body);
      if (body.over)
        refuse(`the window function ${name}() OVER`, 'its value depends on rows outside the changed ones');
      if (NON_DETERMINISTIC.has(name))
        refuse(
          `${name}()`,
          'it is not deterministic, so the model could not stay equal to the query run on the source',
        );
      if (name === 'age' && list(body.args).length === 1)
        refuse('age() with one argument', 'it depends on the current date');
    }
    walkExpr(b, where);
  }
}

function containsAggregate(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(containsAggregate);
  const n = obj(v);
  if (!n) return false;
  for (const [k, b] of Object.entries(n)) {
    const body = obj(b);
    if (k === 'FuncCall' && body && !body.over) {
      if (
        AGGREGATES.has(funcName(body)) ||
        body.agg_star ||
        body.agg_filter ||
        body.agg_order ||
        body.agg_distinct
      )
        return true;
    }
    if (containsAggregate(b)) return true;
  }
  return false;
}

/** Output column names as PostgreSQL names them (FigureColname for the common cases). */
function outputColumns(s: Obj): { name: string; expr: Obj }[] {
  return list(s.targetList).map((t, i) => {
    const rt = obj(t.ResTarget)!;
    const expr = obj(rt.val)!;
    const name = (rt.name as string | undefined) ?? figureName(expr);
    if (name === undefined) refuse(`output column ${i + 1} without a name`, 'name it with AS');
    return { name, expr };
  });
}

function figureName(e: Obj): string | undefined {
  const [k, b] = kindOf(e);
  if (k === 'ColumnRef') {
    const f = list(b.fields);
    return sval(f[f.length - 1]!);
  }
  if (k === 'FuncCall') return funcName(b);
  if (k === 'TypeCast') return figureName(obj(b.arg)!) ?? typeName(obj(b.typeName));
  if (k === 'CoalesceExpr') return 'coalesce';
  if (k === 'CaseExpr') return 'case';
  return undefined;
}

function typeName(t: Obj | undefined): string | undefined {
  const names = list(t?.names).map((n) => sval(n));
  return names[names.length - 1];
}

/** Which FROM names an expression's column references use; `unqualified` if any has no qualifier. */
function columnQualifiers(v: unknown): { aliases: Set<string>; unqualified: boolean } {
  const out = { aliases: new Set<string>(), unqualified: false };
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) return x.forEach(walk);
    const n = obj(x);
    if (!n) return;
    for (const [k, b] of Object.entries(n)) {
      if (k === 'ColumnRef') {
        const f = list(obj(b)!.fields).map((p) => sval(p));
        if (f.length === 1) out.unqualified = true;
        else out.aliases.add(f[f.length - 2]!);
        continue;
      }
      walk(b);
    }
  };
  walk(v);
  return out;
}

function splitAnd(v: unknown): Obj[] {
  const n = obj(v);
  if (!n) return [];
  const b = obj(n.BoolExpr);
  if (b && b.boolop === 'AND_EXPR') return list(b.args).flatMap(splitAnd);
  return [n];
}

function collectFrom(
  n: Obj,
  nullable: boolean,
  out: Occurrence[],
  joins: JoinEdge[],
  defaultSchema: string,
): void {
  const [k, b] = kindOf(n);
  if (k === 'RangeVar') {
    const table = b.relname as string;
    const alias = (obj(b.alias)?.aliasname as string | undefined) ?? table;
    out.push({
      index: out.length,
      schema: (b.schemaname as string | undefined) ?? defaultSchema,
      table,
      alias,
      nullable,
    });
    return;
  }
  // checkFrom admitted only RangeVar and JoinExpr.
  const jt = b.jointype as string;
  collectFrom(obj(b.larg)!, nullable || jt === 'JOIN_RIGHT', out, joins, defaultSchema);
  collectFrom(obj(b.rarg)!, nullable || jt === 'JOIN_LEFT', out, joins, defaultSchema);
  const quals = b.quals;
  if (quals) {
    const refs = columnQualifiers(quals);
    joins.push({
      aliases: [...refs.aliases].sort(),
      kind: jt === 'JOIN_LEFT' ? 'left' : jt === 'JOIN_RIGHT' ? 'right' : 'inner',
      condition: exprSql(obj(quals)!),
    });
  }
}

function qualifyTables(v: unknown, defaultSchema: string): void {
  if (Array.isArray(v)) return v.forEach((x) => qualifyTables(x, defaultSchema));
  const n = obj(v);
  if (!n) return;
  const rv = obj(n.RangeVar);
  if (rv) {
    rv.schemaname ??= defaultSchema;
    return;
  }
  const j = obj(n.JoinExpr);
  if (j) {
    qualifyTables(j.larg, defaultSchema);
    qualifyTables(j.rarg, defaultSchema);
  }
}

/**
 * Replaces occurrence `target` with its placeholder and turns the outer joins whose nullable side
 * holds it into inner joins. Returns whether the subtree holds the target.
 */
function restrictFrom(n: Obj, target: number, counter: { i: number }): { node: Obj; holds: boolean } {
  const [k, b] = kindOf(n);
  if (k === 'RangeVar') {
    const i = counter.i++;
    if (i !== target) return { node: n, holds: false };
    const alias = (obj(b.alias)?.aliasname as string | undefined) ?? (b.relname as string);
    return {
      node: {
        RangeVar: { relname: PLACEHOLDER(i), inh: true, relpersistence: 'p', alias: { aliasname: alias } },
      },
      holds: true,
    };
  }
  const l = restrictFrom(obj(b.larg)!, target, counter);
  const r = restrictFrom(obj(b.rarg)!, target, counter);
  let jointype = b.jointype;
  if ((jointype === 'JOIN_LEFT' && r.holds) || (jointype === 'JOIN_RIGHT' && l.holds))
    jointype = 'JOIN_INNER';
  return { node: { JoinExpr: { ...b, jointype, larg: l.node, rarg: r.node } }, holds: l.holds || r.holds };
}
