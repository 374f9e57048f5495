/**
 * Subjects and stream names of the event contract (see DESIGN.md, "Event contract").
 * Pure functions: the connector builds subjects with them and consumers parse them.
 */
import { decodeName, encodeName } from './keys.js';

/** Change operations as they appear in delta subjects and event data. */
export const Ops = { insert: 'insert', update: 'update', delete: 'delete', truncate: 'truncate' } as const;
export type Op = (typeof Ops)[keyof typeof Ops];

/** Streams of one prefix. */
export interface StreamNames {
  readonly facts: string;
  readonly deltas: string;
  readonly dlq: string;
  readonly events: string;
}

const PREFIX = /^[A-Za-z0-9_-]+$/;

/** Checks that a prefix is one plain subject token; returns it. */
export function validatePrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(`prefix "${prefix}" must be one subject token made of [A-Za-z0-9_-]`);
  }
  return prefix;
}

/**
 * The name of a stream or bucket of a prefix: the prefix upper-cased with `-` → `_`, then `_` and
 * the suffix (`cdc`, `FACTS` → `CDC_FACTS`). Every stream and bucket Sluice names follows it.
 */
export function prefixedName(prefix: string, suffix: string): string {
  return `${validatePrefix(prefix).toUpperCase().replace(/-/g, '_')}_${suffix}`;
}

/** Stream names for a prefix: upper-cased prefix plus a suffix (`cdc` → `CDC_FACTS`). */
export function streamNames(prefix: string): StreamNames {
  return {
    facts: prefixedName(prefix, 'FACTS'),
    deltas: prefixedName(prefix, 'DELTAS'),
    dlq: prefixedName(prefix, 'DLQ'),
    events: prefixedName(prefix, 'EVENTS'),
  };
}

/** Subject prefix of one table's facts: `<P>.fact.<schema>.<table>`. */
export function factTableSubject(prefix: string, schema: string, table: string): string {
  return `${prefix}.fact.${encodeName(schema)}.${encodeName(table)}`;
}

/** `<P>.fact.<schema>.<table>.<key>` */
export function factSubject(prefix: string, schema: string, table: string, keyToken: string): string {
  return `${factTableSubject(prefix, schema, table)}.${keyToken}`;
}

/** `<P>.delta.<schema>.<table>.<op>.<key>`; events without a key use NO_KEY_TOKEN (keys.ts). */
export function deltaSubject(
  prefix: string,
  schema: string,
  table: string,
  op: Op,
  keyToken: string,
): string {
  return `${prefix}.delta.${encodeName(schema)}.${encodeName(table)}.${op}.${keyToken}`;
}

/** `<P>.tx.<txid>`: a transaction's commit marker, in the deltas stream. */
export function txSubject(prefix: string, xid: number | string): string {
  return `${prefix}.tx.${xid}`;
}

/** `<P>.schema.<schema>.<table>`: a table's schema events (a new schemaVersion), in the deltas stream. */
export function schemaSubject(prefix: string, schema: string, table: string): string {
  return `${prefix}.schema.${encodeName(schema)}.${encodeName(table)}`;
}

/**
 * `<P>.heartbeat`: the position heartbeats of the source, in the deltas stream (see
 * docs/events.md): published when the captured tables are idle, so consumers see the position move.
 */
export function heartbeatSubject(prefix: string): string {
  return `${prefix}.heartbeat`;
}

/**
 * `<P>.signal.heartbeat`: a plain NATS subject (in no stream) on which anyone waiting for the source
 * position to move — the query API holding a read-your-writes fence — asks the streaming connector
 * for a heartbeat now. The message body is ignored.
 */
export function heartbeatRequestSubject(prefix: string): string {
  return `${prefix}.signal.heartbeat`;
}

/** What a subject of the contract names. */
export interface ParsedSubject {
  kind: 'fact' | 'delta' | 'tx' | 'schema' | 'heartbeat';
  schema?: string;
  table?: string;
  op?: Op;
  key?: string;
  txid?: string;
}

/** Parses a subject of the contract; returns null for a subject of another shape. */
export function parseSubject(prefix: string, subject: string): ParsedSubject | null {
  const t = subject.split('.');
  if (t[0] !== prefix) return null;
  if (t[1] === 'fact' && t.length === 5) {
    return { kind: 'fact', schema: decodeName(t[2]!), table: decodeName(t[3]!), key: t[4]! };
  }
  if (t[1] === 'delta' && t.length === 6) {
    return {
      kind: 'delta',
      schema: decodeName(t[2]!),
      table: decodeName(t[3]!),
      op: t[4] as Op,
      key: t[5]!,
    };
  }
  if (t[1] === 'tx' && t.length === 3) return { kind: 'tx', txid: t[2]! };
  if (t[1] === 'schema' && t.length === 4) {
    return { kind: 'schema', schema: decodeName(t[2]!), table: decodeName(t[3]!) };
  }
  if (t[1] === 'heartbeat' && t.length === 2) return { kind: 'heartbeat' };
  return null;
}

/** What a subject of the `<P>_DLQ` stream holds for one consumer. */
export type DeadLetterSubjectKind = 'entry' | 'redrive' | 'redriven' | 'dropped';

/**
 * `<P>.dlq.<consumer>.<kind>` in the `<P>_DLQ` stream: `entry` dead letters, `redrive` requests,
 * `redriven` and `dropped` records (see docs/consumers.md).
 */
export function deadLetterSubject(prefix: string, consumer: string, kind: DeadLetterSubjectKind): string {
  return `${prefix}.dlq.${consumer}.${kind}`;
}
