/**
 * What a consumer reads: the filter subjects of its durable consumer, the client-side match used
 * when the server cannot filter on several subjects (nats-server < 2.10), and the ordering key of
 * each message.
 */
import { encodeName, NO_KEY_TOKEN } from '../../schemas/keys.js';
import { parseSubject, type Op } from '../../schemas/subjects.js';

/** What a consumer selects. `tables` as `schema.table`; empty = every table. `ops` only for deltas. */
export interface Selection {
  prefix: string;
  from: 'facts' | 'deltas';
  tables: readonly string[];
  ops: readonly Op[];
  /** Also deliver transaction commit markers (`<P>.tx.*`, deltas only). */
  txMarkers: boolean;
}

/** Filter subjects of a selection; an empty list means the whole stream. */
export function filterSubjects(sel: Selection): string[] {
  const p = sel.prefix;
  if (sel.from === 'facts') {
    if (sel.tables.length === 0) return [];
    return sel.tables.map((t) => `${p}.fact.${tableTokens(t)}.*`);
  }
  const tables = sel.tables.length ? sel.tables.map(tableTokens) : ['*.*'];
  const out: string[] = [];
  for (const t of tables) {
    if (sel.ops.length === 0) out.push(t === '*.*' ? `${p}.delta.>` : `${p}.delta.${t}.>`);
    else for (const op of sel.ops) out.push(`${p}.delta.${t}.${op}.*`);
  }
  if (sel.txMarkers) {
    // Everything the deltas stream holds: no filter at all.
    if (out.length === 1 && out[0] === `${p}.delta.>`) return [];
    out.push(`${p}.tx.*`);
  }
  return out;
}

/** How the server filters: one subject, several (nats-server ≥ 2.10), or none and the client filters. */
export interface ServerFilter {
  filter_subject?: string;
  filter_subjects?: string[];
  /** True when the server delivers more than the selection and the runtime must skip the rest. */
  clientSide: boolean;
}

export function serverFilter(filters: readonly string[], multiFilter: boolean): ServerFilter {
  if (filters.length === 0) return { clientSide: false };
  if (filters.length === 1) return { filter_subject: filters[0]!, clientSide: false };
  if (multiFilter) return { filter_subjects: [...filters], clientSide: false };
  return { clientSide: true };
}

/** Whether the server version (`2.9.10`) supports several filter subjects on one consumer. */
export function supportsMultiFilter(version: string): boolean {
  const [maj = 0, min = 0] = version.split('.').map((n) => parseInt(n, 10));
  return maj > 2 || (maj === 2 && min >= 10);
}

/** One delivered message, classified. */
export interface Routed {
  kind: 'fact' | 'delta' | 'tx';
  /** `schema.table` of a fact or delta. */
  table?: string;
  op?: Op;
  /**
   * Ordering key: the entity (`schema.table/<key token>`; a delta's op is not part of it, so an
   * entity's insert, updates and delete stay in order). Events without a key share one key per table.
   */
  key: string;
  /** A TRUNCATE concerns every row of its table: it runs alone (see key-scheduler.ts). */
  barrier: boolean;
}

/** Classifies a subject of the contract; null for anything else (it is skipped). */
export function route(prefix: string, subject: string): Routed | null {
  const s = parseSubject(prefix, subject);
  // Schema events (a table's new schemaVersion) and position heartbeats (`<P>.heartbeat`) carry no
  // row change: not handed to consumers' handlers.
  if (!s || s.kind === 'schema' || s.kind === 'heartbeat') return null;
  if (s.kind === 'tx') return { kind: 'tx', key: `tx/${s.txid!}`, barrier: false };
  const table = `${s.schema!}.${s.table!}`;
  const r: Routed = { kind: s.kind, table, key: `${table}/${s.key!}`, barrier: false };
  if (s.op) r.op = s.op;
  r.barrier = s.op === 'truncate' || (s.kind === 'fact' && s.key === NO_KEY_TOKEN);
  return r;
}

/** Whether a routed message belongs to the selection (for client-side filtering). */
export function selected(sel: Selection, r: Routed): boolean {
  if (r.kind === 'tx') return sel.txMarkers;
  if (r.kind !== (sel.from === 'facts' ? 'fact' : 'delta')) return false;
  if (sel.tables.length && !sel.tables.includes(r.table!)) return false;
  if (sel.from === 'deltas' && sel.ops.length && !sel.ops.includes(r.op!)) return false;
  return true;
}

function tableTokens(table: string): string {
  const i = table.indexOf('.');
  return `${encodeName(table.slice(0, i))}.${encodeName(table.slice(i + 1))}`;
}
