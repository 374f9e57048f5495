/**
 * Shared pieces of the fault-tolerance tests (faults-*.test.ts): a seeded PRNG, a shadow audit of
 * every row change the shop makes, traffic that can be stopped, RSS sampling of a child connector,
 * waiting until the connector caught up, and the end-to-end checks (facts equal the tables, every
 * delta once, versions rising, one delta per row change).
 */
import { readFileSync } from 'node:fs';
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { expect } from 'vitest';
import { eventually, type StreamMessage } from '../harness/index.js';
import { SHOP_TABLES } from '../../examples/shop/schema.js';
import { seedShop } from '../../examples/shop/seed.js';
import { runTraffic, type TrafficStats } from '../../examples/shop/traffic.js';
import { listSnapshots, snapshotBucketName } from '../../connector/sink/snapshot-store.js';
import { parseLsn } from '../../schemas/versions.js';
import { streamNames } from '../../schemas/subjects.js';
import { liveFacts, type ChildConnector, type DeltaLike, type FactLike, type SluiceEnv } from './env.js';

/** The shop's tables that have a primary key (every one but audit_log): they get facts. */
export const KEYED_TABLES = SHOP_TABLES.filter((t) => t !== 'audit_log');

/** Connector settings of the shop tests: capture exactly the shop's tables (not the audit table). */
export function shopConnectorEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { SLUICE_TABLES: SHOP_TABLES.map((t) => `public.${t}`).join(','), ...extra };
}

/** mulberry32: a small seeded PRNG, so a failing run's kill moments can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolves after `ms`: only for the length of a fault (an outage, a kill moment), never to wait for a result. */
export function faultDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Seeds the shop, then installs the shadow audit: an AFTER ROW trigger on every shop table that
 * writes (table, op) into `fault_audit`, in the same transaction as the change. The audit table is
 * not captured (see {@link shopConnectorEnv}), and an aborted transaction leaves no audit row, so
 * its rows are exactly the row changes PostgreSQL committed since the audit was installed.
 */
export async function seedShopWithAudit(
  env: SluiceEnv,
  seed: { customers: number; products: number; orders: number; seed?: number },
): Promise<void> {
  await seedShop(env.dbUrl, { seed: 7, ...seed });
  await installAudit(env, SHOP_TABLES);
}

export async function installAudit(env: SluiceEnv, tables: readonly string[]): Promise<void> {
  await env.sql(`
    CREATE TABLE IF NOT EXISTS public.fault_audit (tbl text NOT NULL, op text NOT NULL);
    CREATE OR REPLACE FUNCTION public.fault_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO public.fault_audit VALUES (TG_TABLE_NAME, lower(TG_OP));
      RETURN NULL;
    END $$;
  `);
  for (const t of tables) {
    await env.sql(
      `CREATE TRIGGER fault_audit AFTER INSERT OR UPDATE OR DELETE ON public.${t}
         FOR EACH ROW EXECUTE FUNCTION public.fault_audit_row()`,
    );
  }
}

/** Committed row changes per `table.op`, from the shadow audit. */
export async function auditCounts(env: SluiceEnv): Promise<Record<string, number>> {
  const r = await env.sql<{ k: string; n: number }>(
    `SELECT tbl || '.' || op AS k, count(*)::int AS n FROM public.fault_audit GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(r.rows.map((row) => [row.k, row.n]));
}

/** Shop traffic running in the background until stopped. */
export interface BackgroundTraffic {
  /** Ends the run (transactions in flight finish) and returns its stats. */
  stop(): Promise<TrafficStats>;
  /** Row changes committed so far (updated about once a second). */
  changes(): number;
}

export function startTraffic(
  env: SluiceEnv,
  opts: { rate: number; seed: number; concurrency?: number },
): BackgroundTraffic {
  const abort = new AbortController();
  let last = 0;
  const run = runTraffic(env.dbUrl, {
    rate: opts.rate,
    durationSec: 3600,
    seed: opts.seed,
    concurrency: opts.concurrency ?? 4,
    signal: abort.signal,
    onProgress: (s) => (last = s.changes),
  });
  run.catch(() => undefined);
  return {
    changes: () => last,
    stop: async () => {
      abort.abort();
      const s = await run;
      last = s.changes;
      return s;
    },
  };
}

/** Waits until the child connector logged that it streams; fails at once if it exits. */
export async function waitStreaming(c: ChildConnector, timeout = 60_000): Promise<void> {
  await eventually(() => /"msg":"streaming"/.test(c.output()), {
    timeout,
    interval: 20,
    message: 'the connector to start streaming',
    signal: exitSignal(c),
  });
}

/** The last lines of a connector's output, for failure messages. */
export function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Resident set size of a process in MB, from /proc/<pid>/status (VmRSS); null once it is gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS on a timer. */
export class RssSampler {
  readonly samples: { at: number; mb: number }[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number, intervalMs = 500) {
    const sample = () => {
      const mb = rssMb(pid);
      if (mb !== null) this.samples.push({ at: Date.now(), mb });
    };
    sample();
    this.#timer = setInterval(sample, intervalMs);
  }

  /** Highest sample taken in [from, to] (ms since the epoch); 0 when there is none. */
  peak(from = 0, to = Infinity): number {
    return Math.max(0, ...this.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.mb));
  }

  /** Median of the samples in [from, to]. */
  median(from = 0, to = Infinity): number {
    const v = this.samples
      .filter((s) => s.at >= from && s.at <= to)
      .map((s) => s.mb)
      .sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)]! : 0;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Every snapshot the connector recorded is done (its facts acknowledged). */
export async function waitSnapshotsDone(env: SluiceEnv, timeout = 120_000): Promise<void> {
  const kv = await new Kvm(env.nc).open(snapshotBucketName('cdc'));
  await eventually(
    async () => {
      const states = await listSnapshots(kv);
      const open = states.filter((s) => s.status !== 'done').map((s) => `${s.table}: ${s.status}`);
      if (states.length === 0 || open.length)
        throw new Error(`snapshots not done: ${open.join(', ') || 'none yet'}`);
      return true;
    },
    { timeout, interval: 250, message: 'every table snapshot to be done' },
  );
}

/**
 * Waits until the slot's confirmed_flush_lsn reached the WAL position of now: everything committed
 * before the call was published and acknowledged (the slot only moves past acknowledged changes).
 */
export async function waitCaughtUp(env: SluiceEnv, timeout = 120_000, slot = 'sluice'): Promise<bigint> {
  const target = parseLsn(
    (await env.sql<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l,
  );
  await eventually(
    async () => {
      const r = await env.sql<{ l: string | null }>(
        'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      const l = r.rows[0]?.l;
      if (!l || parseLsn(l) < target) throw new Error(`slot at ${l ?? 'none'}, want ${target.toString(16)}`);
      return true;
    },
    { timeout, interval: 200, message: 'the slot to confirm the WAL written before the check' },
  );
  return target;
}

/**
 * Stream state (messages, subjects, last sequence, and with `subjectsFilter` the messages on the
 * matching subjects: keep that filter narrow, the server lists each subject), without reading it. Asks on a connection of its
 * own: nats.js loses a request made while its connection is reconnecting (it times out), and the
 * tests ask right after restarting NATS.
 */
export async function streamInfo(
  env: SluiceEnv,
  which: 'facts' | 'deltas',
  subjectsFilter?: string,
): Promise<{ messages: number; subjects: number; lastSeq: number; matching: number }> {
  const nc = await connect({ servers: env.nats.url, reconnect: false, timeout: 2_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const name = streamNames('cdc')[which];
    const info = await jsm.streams.info(
      name,
      subjectsFilter ? { subjects_filter: subjectsFilter } : undefined,
    );
    return {
      messages: info.state.messages,
      subjects: info.state.num_subjects ?? 0,
      lastSeq: info.state.last_seq,
      matching: Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0),
    };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/**
 * The rows of a table as the event contract maps them (int8/numeric as strings, timestamptz as ISO
 * 8601 UTC with microseconds, arrays and json as JSON, everything else in its text form), keyed by
 * the JSON array of its primary-key values.
 */
export async function tableRows(
  env: SluiceEnv,
  table: string,
): Promise<{ keyCols: string[]; rows: Map<string, Record<string, unknown>> }> {
  const cols = await env.sql<{ name: string; typ: string; cat: string; key: boolean }>(
    `SELECT a.attname AS name, t.typname AS typ, t.typcategory AS cat,
            coalesce(a.attnum = ANY(i.indkey::int2[]), false) AS key
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [`public.${table}`],
  );
  const expr = (name: string, typ: string, cat: string): string => {
    const c = `"${name}"`;
    // bpchar: to_jsonb keeps the padding (the output function); ::text would drop it.
    if (['int2', 'int4', 'bool', 'json', 'jsonb', 'bpchar'].includes(typ)) return `to_jsonb(${c})`;
    if (typ === 'timestamptz')
      return `to_jsonb(to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))`;
    if (cat === 'A' && typ === '_text') return `to_jsonb(${c})`;
    return `to_jsonb(${c}::text)`;
  };
  const obj = cols.rows.map((c) => `'${c.name}', ${expr(c.name, c.typ, c.cat)}`).join(', ');
  const keyCols = cols.rows.filter((c) => c.key).map((c) => c.name);
  const r = await env.sql<{ row: Record<string, unknown> }>(
    `SELECT jsonb_build_object(${obj}) AS row FROM public.${table}`,
  );
  const rows = new Map<string, Record<string, unknown>>();
  for (const { row } of r.rows) rows.set(JSON.stringify(keyCols.map((k) => row[k])), row);
  return { keyCols, rows };
}

/**
 * Compares the live facts of each table with the table, row by row: the key sets are equal and every
 * row equals its fact's row in every column. Returns a description of each difference (at most 20).
 */
export async function factDifferences(
  env: SluiceEnv,
  facts: Map<string, FactLike>,
  tables: readonly string[] = KEYED_TABLES,
): Promise<string[]> {
  const diffs: string[] = [];
  const byTable = new Map<string, FactLike[]>();
  for (const f of facts.values()) {
    const list = byTable.get(f.table) ?? [];
    list.push(f);
    byTable.set(f.table, list);
  }
  for (const table of tables) {
    const { keyCols, rows } = await tableRows(env, table);
    const seen = new Set<string>();
    for (const f of byTable.get(`public.${table}`) ?? []) {
      const key = JSON.stringify(keyCols.map((k) => f.key[k]));
      seen.add(key);
      const row = rows.get(key);
      if (!row) diffs.push(`${table} ${key}: a live fact (op ${f.op}, version ${f.version}) but no row`);
      else if (!sameJson(row, f.row)) {
        const cols = Object.keys(row).filter((c) => !sameJson(row[c], f.row?.[c]));
        const detail = cols.map((c) => `${c}: table ${short(row[c])} fact ${short(f.row?.[c])}`).join('; ');
        diffs.push(`${table} ${key}: row differs (op ${f.op}, version ${f.version}): ${detail}`);
      }
    }
    for (const key of rows.keys()) if (!seen.has(key)) diffs.push(`${table} ${key}: a row but no live fact`);
  }
  return diffs.slice(0, 20).concat(diffs.length > 20 ? [`… ${diffs.length - 20} more`] : []);
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/** Deep equality of JSON values, object key order ignored. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => sameJson(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  return ak.length === Object.keys(bo).length && ak.every((k) => k in bo && sameJson(ao[k], bo[k]));
}

/** What {@link checkStreams} found, for further assertions and the report. */
export interface StreamsSummary {
  deltas: StreamMessage[];
  facts: StreamMessage[];
  /** Change deltas per `table.op` (table without schema). */
  changesByTableOp: Record<string, number>;
  changeDeltas: number;
  txMarkers: number;
  /** Schema events (`cdc.schema.…`): one per table version taking effect in the stream. */
  schemaEvents: number;
  /** Position heartbeats (`cdc.heartbeat`): no row change, not counted by tx markers. */
  heartbeats: number;
}

/**
 * The stream-level guarantees after a fault: every delta, fact and tx marker is stored once (by
 * Nats-Msg-Id and by version, the header equal to the event id), versions strictly rise in stream
 * order in both streams (position heartbeats included), every tx marker's event count adds up to the change deltas, every latest
 * fact that came from a change carries the version of the latest delta of its entity, and a latest
 * snapshot fact is newer than every delta of its entity.
 */
export async function checkStreams(env: SluiceEnv): Promise<StreamsSummary> {
  const deltas = await env.deltas();
  const facts = await env.facts();
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };

  const ids = new Set<string>();
  const versions = new Set<string>();
  let prev = '';
  const changesByTableOp: Record<string, number> = {};
  const lastDeltaVersion = new Map<string, string>();
  let changeDeltas = 0;
  let txMarkers = 0;
  let schemaEvents = 0;
  let heartbeats = 0;
  let markerEvents = 0;
  for (const m of deltas) {
    const ev = m.data as { id: string; data: DeltaLike & { events?: number } };
    const id = m.headers['Nats-Msg-Id'];
    if (id !== ev.id) note(`deltas seq ${m.seq}: Nats-Msg-Id ${id} is not the event id ${ev.id}`);
    if (ids.has(ev.id)) note(`deltas seq ${m.seq}: duplicate id ${ev.id} (${m.subject})`);
    ids.add(ev.id);
    const v = ev.data.version;
    if (versions.has(v)) note(`deltas seq ${m.seq}: duplicate version ${v} (${m.subject})`);
    versions.add(v);
    if (!(v > prev)) note(`deltas seq ${m.seq}: version ${v} not above the previous ${prev} (${m.subject})`);
    prev = v;
    const parts = m.subject.split('.');
    if (parts[1] === 'schema' || parts[1] === 'heartbeat') {
      if (parts[1] === 'schema')
        schemaEvents++; // a table's new schemaVersion: not counted by tx markers
      else heartbeats++;
    } else if (parts[1] === 'tx') {
      txMarkers++;
      markerEvents += ev.data.events ?? 0;
    } else {
      changeDeltas++;
      const k = `${parts[3]}.${parts[4]}`;
      changesByTableOp[k] = (changesByTableOp[k] ?? 0) + 1;
      lastDeltaVersion.set(`cdc.fact.${parts[2]}.${parts[3]}.${parts[5]}`, v);
    }
  }
  if (markerEvents !== changeDeltas)
    note(`tx markers count ${markerEvents} events, the stream holds ${changeDeltas}`);

  const factIds = new Set<string>();
  prev = '';
  const latest = new Map<string, FactLike>();
  for (const m of facts) {
    const ev = m.data as { id: string; data: FactLike };
    if (m.headers['Nats-Msg-Id'] !== ev.id)
      note(`facts seq ${m.seq}: Nats-Msg-Id is not the event id ${ev.id}`);
    if (factIds.has(ev.id)) note(`facts seq ${m.seq}: duplicate id ${ev.id}`);
    factIds.add(ev.id);
    if (!(ev.data.version > prev)) note(`facts seq ${m.seq}: version ${ev.data.version} not above ${prev}`);
    prev = ev.data.version;
    latest.set(m.subject, ev.data);
  }
  for (const [subject, f] of latest) {
    if (f.op === 'truncate') continue;
    const dv = lastDeltaVersion.get(subject);
    // A snapshot fact is never older than a change of its row; any other fact is its latest change's.
    if (f.op === 'snapshot') {
      if (dv !== undefined && !(f.version > dv))
        note(`snapshot fact ${subject} ${f.version} older than its delta ${dv}`);
    } else if (dv !== f.version)
      note(`fact ${subject} has version ${f.version}, its latest delta ${dv ?? 'none'}`);
  }
  expect(problems, 'stream-level guarantees').toEqual([]);
  return { deltas, facts, changesByTableOp, changeDeltas, txMarkers, schemaEvents, heartbeats };
}

/** Shorthand for the final check of a shop fault test: facts equal tables, deltas equal the audit. */
export async function checkShopAfterFaults(env: SluiceEnv): Promise<StreamsSummary> {
  const summary = await checkStreams(env);
  expect(await factDifferences(env, liveFacts(summary.facts)), 'facts equal the tables').toEqual([]);
  expect(summary.changesByTableOp, 'one delta per committed row change').toEqual(await auditCounts(env));
  return summary;
}

/** Wall-clock phases of a test, for its report line. */
export function phases(): { mark(name: string): void; toString(): string } {
  let last = Date.now();
  const parts: string[] = [];
  return {
    mark(name) {
      const now = Date.now();
      parts.push(`${name} ${((now - last) / 1000).toFixed(1)} s`);
      last = now;
    },
    toString: () => parts.join(', '),
  };
}

/** What the connector and PostgreSQL were doing, for a failure message. */
export async function diagnose(env: SluiceEnv, c: ChildConnector | null): Promise<string> {
  const parts: string[] = [];
  if (c)
    parts.push(
      `connector (exit ${c.child.exitCode ?? c.child.signalCode ?? 'running'}):\n${tail(c.output(), 60)}`,
    );
  try {
    const a = await env.sql(
      `SELECT pid, application_name AS app, backend_type AS type, state, wait_event_type || ':' || wait_event AS wait,
              left(query, 100) AS query
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    parts.push(`pg_stat_activity:\n${a.rows.map((r) => JSON.stringify(r)).join('\n')}`);
    const s = await env.sql(
      `SELECT slot_name, active, active_pid, restart_lsn::text, confirmed_flush_lsn::text, pg_current_wal_lsn()::text AS current
         FROM pg_replication_slots`,
    );
    parts.push(`slots: ${JSON.stringify(s.rows)}`);
  } catch (e) {
    parts.push(`(PostgreSQL not answering: ${(e as Error).message})`);
  }
  return parts.join('\n');
}

/** Runs `fn`; if it throws, rethrows with {@link diagnose}'s report appended to the message. */
export async function explained<T>(
  env: SluiceEnv,
  c: ChildConnector | null,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    err.message += `\n--- diagnosis ---\n${await diagnose(env, c)}`;
    throw err;
  }
}

/**
 * Starts `sluice run` as a child process and waits until it streams and its initial snapshot is
 * done. The fault tests start traffic only then: updates of TOASTed rows during a snapshot chunk
 * lose the TOASTed column (see faults-snapshot.test.ts), which would make them fail at random for a
 * reason that is not theirs.
 */
export async function spawnStreaming(
  env: SluiceEnv,
  extra: Record<string, string>,
  opts: { compiled?: boolean } = {},
): Promise<ChildConnector> {
  const c = env.spawnConnector(extra, opts);
  await waitStreaming(c);
  await explained(env, c, () => waitSnapshotsDone(env));
  return c;
}

/** Aborts when the child connector exits, so a wait fails at once with its output. */
export function exitSignal(c: ChildConnector): AbortSignal {
  const ac = new AbortController();
  void c.exited.then((code) =>
    ac.abort(new Error(`the connector exited (code ${code}):\n${tail(c.output())}`)),
  );
  return ac.signal;
}

/** Waits until the deltas stream holds at least `n` more messages than `from`; fails if the connector exits. */
export async function deltasGrow(
  env: SluiceEnv,
  from: number,
  n: number,
  c: ChildConnector,
): Promise<number> {
  return explained(env, c, () =>
    eventually(
      async () => {
        const { messages } = await streamInfo(env, 'deltas');
        if (messages < from + n) throw new Error(`deltas at ${messages}, want ${from + n}`);
        return messages;
      },
      { timeout: 60_000, interval: 200, message: `${n} more deltas after ${from}`, signal: exitSignal(c) },
    ),
  );
}

/** Why each of the connector's sessions ended (its "session ended" log lines). */
export function sessionsEnded(c: ChildConnector): string[] {
  return [...c.output().matchAll(/"msg":"session ended: ([^"]*)"/g)].map((m) => m[1]!);
}

/** How many sessions of the connector started streaming. */
export function streamingSessions(c: ChildConnector): number {
  return (c.output().match(/"msg":"streaming"/g) ?? []).length;
}
