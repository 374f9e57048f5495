/**
 * PostgreSQL's own grammar, from libpg-query (the real parser compiled to WebAssembly, shipped in
 * the npm package) and pgsql-deparser (turns a parse tree back into SQL). The only module that
 * imports either: everything else works on the plain JSON parse tree.
 */
import { loadModule, parseSync } from 'libpg-query';
import { deparseSync } from 'pgsql-deparser';

/** A node of the parse tree: `{ SelectStmt: {...} }`, `{ ColumnRef: {...} }`, … (plain JSON). */
export type AstNode = Record<string, unknown>;

/** A syntax error with PostgreSQL's message and the 0-based character where it was found. */
export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number | null,
  ) {
    super(message);
  }
}

let loaded: Promise<void> | null = null;

/** Loads the WebAssembly module once; every other function needs it to have resolved. */
export function loadSqlParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** The statements of `sql`, each a parse-tree node. */
export function parseStatements(sql: string): AstNode[] {
  try {
    const r = parseSync(sql) as unknown as { stmts?: { stmt: AstNode }[] };
    return (r.stmts ?? []).map((s) => s.stmt);
  } catch (e) {
    const details = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    throw new SqlSyntaxError((e as Error).message, details?.cursorPosition ?? null);
  }
}

/** SQL text of one statement node. */
export function deparseStatement(stmt: AstNode): string {
  return deparseSync({ version: 180000, stmts: [{ stmt }] } as never);
}
