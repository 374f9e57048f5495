/**
 * Column exclusion and masking against real servers: snapshot rows and streamed INSERT, UPDATE and
 * DELETE (REPLICA IDENTITY FULL, so deltas carry old values) of a table with an excluded, hashed
 * (text and int), redacted and nulled column, with rows too large for one message (object store).
 * Then every message of every stream of the prefix — facts, deltas, KV buckets, the object store's
 * backing stream — is read raw and searched for each clear value, and so are the connector's logs
 * at trace level. Hashes are checked against an HMAC computed here; `sluice verify` compares
 * masked rows with the facts (clean), and without the policy sees the difference.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, readStream } from '../harness/index.js';
import { liveFacts, startEnv, type SluiceEnv } from './env.js';
import { sluice } from './sluice-command.js';
import { Connector } from '../../connector/connector.js';
import { fetchLargeEvent } from '../../consumers/large-events.js';
import { SchemaRegistryReader } from '../../schemas/registry.js';
import { Kvm } from '@nats-io/kv';
import pg from 'pg';
import { parseReadModelsConfig } from '../../consumers/read-models/config.js';
import { runReadModels } from '../../consumers/read-models/daemon.js';

const SALT = 'masking-test-salt-5f0c2a9e';
const COLUMNS = {
  'public.customers': {
    exclude: ['ssn'],
    mask: { email: 'hash', pin: 'hash', phone: 'redact', notes: 'null' },
  },
};
const POLICY_ENV = { SLUICE_COLUMNS: JSON.stringify(COLUMNS), SLUICE_MASK_SALT: SALT };
/** Bigger than the server's max_payload (32 KiB here): such events go to the object store. */
const BIG = 'big-body-'.repeat(5000);

let env: SluiceEnv;
let confDir: string;
const logs: string[] = [];

beforeAll(async () => {
  confDir = mkdtempSync(join(tmpdir(), 'sluice-natsconf-'));
  const conf = join(confDir, 'small.conf');
  writeFileSync(conf, 'max_payload: 32768\n');
  env = await startEnv({ natsArgs: ['-c', conf] });
  await env.sql(`CREATE TABLE customers (
    id int PRIMARY KEY, name text, ssn text, email text, pin int, phone text, notes text NOT NULL, body text)`);
  await env.sql(`ALTER TABLE customers REPLICA IDENTITY FULL`);
});

afterAll(async () => {
  await env?.close();
  rmSync(confDir, { recursive: true, force: true });
});

const hmac = (v: string) => createHmac('sha256', SALT).update(v, 'utf8').digest('hex');

/** A row's secret values, distinctive enough never to appear by chance. */
const secrets = (n: number) => ({
  ssn: `ssn-${n}-SECRET-111`,
  email: `person${n}.secret@example.com`,
  pin: 987_650_000 + n,
  phone: `+1-555-SECRET-${n}`,
  notes: `private note SECRET ${n}`,
});
const everySecret: string[] = [];
async function insert(id: number, n: number, body = 'small'): Promise<void> {
  const s = secrets(n);
  everySecret.push(s.ssn, s.email, String(s.pin), s.phone, s.notes);
  await env.sql(`INSERT INTO customers VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
    id,
    `name ${id}`,
    s.ssn,
    s.email,
    s.pin,
    s.phone,
    s.notes,
    body,
  ]);
}

/** A connector in this process whose every log line, down to trace, is kept. */
function startLoggingConnector() {
  const cfg = env.config({ ...POLICY_ENV, SLUICE_LOG_LEVEL: 'trace' });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const connector = new Connector(cfg, pino({ level: 'trace' }, sink));
  const abort = new AbortController();
  const done = connector.run(abort.signal);
  return {
    connector,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

/** Every message of every stream whose name holds the prefix (CDC_*, KV_CDC_*, OBJ_CDC_*), raw. */
async function everyStreamBytes(): Promise<Map<string, Buffer>> {
  const jsm = await jetstreamManager(env.nc);
  const out = new Map<string, Buffer>();
  for await (const s of jsm.streams.list()) {
    const name = s.config.name;
    if (!/^(KV_|OBJ_)?CDC_/.test(name)) continue;
    const msgs = await readStream(env.nc, name);
    // In stream order, bodies concatenated: an object's chunks are consecutive, so a value split
    // across two chunks is found too. Subjects and headers are searched as well.
    out.set(
      name,
      Buffer.concat(
        msgs.flatMap((m) => [Buffer.from(m.subject + JSON.stringify(m.headers)), Buffer.from(m.raw)]),
      ),
    );
  }
  return out;
}

interface Row {
  id: number;
  name: string;
  email: string;
  pin: string;
  phone: string;
  notes: null;
  body: string;
  ssn?: unknown;
}

describe('column exclusion and masking', () => {
  it('refuses at start a policy naming a column the table lacks, or its key', async () => {
    for (const [columns, message] of [
      [
        { 'public.customers': { exclude: ['snn'] } },
        /columns."public.customers": the table has no column snn\./,
      ],
      [{ 'public.customers': { mask: { id: 'null' } } }, /id is part of the table's identity/],
      [{ 'public.custmers': { exclude: ['ssn'] } }, /no captured table is named public\.custmers/],
    ] as const) {
      const c = env.startConnector({ SLUICE_COLUMNS: JSON.stringify(columns) });
      await expect(c.done).rejects.toMatchObject({
        code: 'SLUICE_CONFIG',
        message: expect.stringMatching(message),
      });
    }
  });

  it('never publishes or logs a clear value: snapshot, stream, old values, object store, KV', async () => {
    const started = Date.now();
    // Before the connector: the snapshot's rows, one of them too large for a message.
    await insert(1, 1);
    await insert(2, 2);
    await insert(3, 3, BIG);
    const c = startLoggingConnector();
    await eventually(() => c.connector.status.state === 'streaming' || Promise.reject(new Error('not yet')));
    await eventually(async () => {
      const facts = liveFacts(await env.facts());
      if (facts.size < 3) throw new Error(`${facts.size} facts`);
    });
    // Streamed: inserts (one large), updates of every masked column (old and new values), a delete.
    await insert(4, 4);
    await insert(5, 5, BIG);
    const u = secrets(11);
    everySecret.push(u.ssn, u.email, String(u.pin), u.phone, u.notes);
    await env.sql(
      `UPDATE customers SET ssn = $1, email = $2, pin = $3, phone = $4, notes = $5 WHERE id = 1`,
      [u.ssn, u.email, u.pin, u.phone, u.notes],
    );
    const u5 = secrets(15);
    everySecret.push(u5.email);
    await env.sql(`UPDATE customers SET email = $1, name = 'renamed' WHERE id = 5`, [u5.email]);
    await env.sql(`DELETE FROM customers WHERE id = 2`);
    await eventually(async () => {
      const deltas = await env.deltas();
      if (!deltas.some((m) => m.subject === 'cdc.delta.public.customers.delete.2'))
        throw new Error('no delete');
    });

    // The facts: masked as configured, hashes equal to the HMAC computed here.
    const facts = new Map<string, Row>();
    for (const m of await env.facts()) {
      const e = m.data as { data: { row: Row | null; deleted: boolean; dataref?: unknown } };
      if (!m.subject.startsWith('cdc.fact.public.customers.')) continue;
      const full = e.data.dataref
        ? (JSON.parse(await fetchLargeEvent(env.nc, new TextDecoder().decode(m.raw))) as typeof e)
        : e;
      if (full.data.row && !full.data.deleted) facts.set(m.subject, full.data.row);
    }
    expect([...facts.keys()].sort()).toEqual([1, 3, 4, 5].map((i) => `cdc.fact.public.customers.${i}`));
    const expected = (
      id: number,
      n: number,
      body: string,
      email = secrets(n).email,
      name = `name ${id}`,
    ) => ({
      id,
      name,
      email: hmac(email),
      pin: hmac(String(secrets(n).pin)),
      phone: '****',
      notes: null,
      body,
    });
    expect(facts.get('cdc.fact.public.customers.1')).toEqual(expected(1, 11, 'small'));
    expect(facts.get('cdc.fact.public.customers.3')).toEqual(expected(3, 3, BIG));
    expect(facts.get('cdc.fact.public.customers.4')).toEqual(expected(4, 4, 'small'));
    expect(facts.get('cdc.fact.public.customers.5')).toEqual(expected(5, 5, BIG, u5.email, 'renamed'));

    // The update's delta: old and new hashes; redacted and nulled columns show no change.
    const update = (await env.deltas()).find((m) => m.subject === 'cdc.delta.public.customers.update.1')!;
    expect((update.data as { data: { changes: unknown } }).data.changes).toEqual({
      email: { old: hmac(secrets(1).email), new: hmac(u.email) },
      pin: { old: hmac(String(secrets(1).pin)), new: hmac(String(u.pin)) },
    });

    // The registry describes what consumers get: no ssn, pin published as text, masks named.
    const kv = await new Kvm(env.nc).open('CDC_SCHEMAS');
    const [v1] = await new SchemaRegistryReader(kv).history('public.customers');
    expect(v1!.columns!.map((col) => [col.name, col.type, col.mask ?? null])).toEqual([
      ['id', 'pg_catalog.int4', null],
      ['name', 'pg_catalog.text', null],
      ['email', 'pg_catalog.text', 'hash'],
      ['pin', 'pg_catalog.text', 'hash'],
      ['phone', 'pg_catalog.text', 'redact'],
      ['notes', 'pg_catalog.text', 'null'],
      ['body', 'pg_catalog.text', null],
    ]);

    // No clear value in any byte of any stream of the prefix, nor in any log line.
    const streams = await everyStreamBytes();
    expect([...streams.keys()]).toEqual(
      expect.arrayContaining(['CDC_FACTS', 'CDC_DELTAS', 'KV_CDC_SCHEMAS', 'OBJ_CDC_LARGE']),
    );
    expect(streams.get('OBJ_CDC_LARGE')!.includes(hmac(secrets(5).pin.toString()))).toBe(true);
    const allLogs = logs.join('');
    expect(logs.length).toBeGreaterThan(5);
    expect(allLogs).toContain('snapshot done');
    for (const secret of [...everySecret, SALT]) {
      for (const [name, bytes] of streams) {
        expect(bytes.includes(secret), `${secret} in ${name}`).toBe(false);
      }
      expect(allLogs.includes(secret), `${secret} in the logs`).toBe(false);
    }
    // The pins are int4: also not as a JSON number anywhere.
    for (const [name, bytes] of streams) {
      expect(/[:[,]98765\d{4}[,}\]]/.test(bytes.toString('latin1')), `a pin in ${name}`).toBe(false);
    }

    // sluice verify masks the table's rows as the connector does: clean. Without the policy
    // the same facts differ from the clear rows in every masked column (ssn is then expected too).
    // Both at once: each spends most of its time starting and waiting for the re-check.
    const [clean, unmasked] = await Promise.all([
      sluice(['verify', '--json', 'public.customers'], { ...env.env, ...POLICY_ENV }),
      sluice(['verify', '--json', 'public.customers'], env.env),
    ]);
    expect(clean.code, clean.stderr).toBe(0);
    const report = JSON.parse(clean.stdout) as {
      clean: boolean;
      tables: { table: string; different: number; matching: number }[];
    };
    expect(report.clean).toBe(true);
    expect(report.tables.find((t) => t.table === 'public.customers')).toMatchObject({
      different: 0,
      matching: 4,
    });
    expect(unmasked.code).not.toBe(0);
    const bad = JSON.parse(unmasked.stdout) as { tables: { table: string; different: number }[] };
    expect(bad.tables.find((t) => t.table === 'public.customers')!.different).toBe(4);

    // A read model over the masked table: its replica columns come from the registry (pin is
    // text), its rows equal the source's with the masks applied here.
    const readsUrl = await env.pg.createDatabase();
    const reads = new pg.Pool({ connectionString: readsUrl, max: 2 });
    const abort = new AbortController();
    const silent = {
      info: () => undefined,
      warn: (o: unknown, m?: string) => console.warn(m, o),
      debug: () => undefined,
    };
    const daemon = runReadModels(
      parseReadModelsConfig(
        {
          readModels: [
            {
              name: 'masked_customers',
              key: ['id'],
              sql: 'SELECT c.id, c.email, c.pin, c.phone, c.notes, c.name FROM customers c',
            },
          ],
        },
        { SLUICE_NATS_URL: env.nats.url, SLUICE_READ_DATABASE_URL: readsUrl },
      ),
      silent,
      abort.signal,
    );
    let daemonError: unknown = null;
    daemon.catch((e: unknown) => (daemonError = e));
    try {
      const source = await env.sql<{ id: number; email: string; pin: number; name: string }>(
        'SELECT id, email, pin, name FROM customers ORDER BY id',
      );
      const want = source.rows.map((r) => ({
        id: r.id,
        email: hmac(r.email),
        pin: hmac(String(r.pin)),
        phone: '****',
        notes: null,
        name: r.name,
      }));
      await eventually(
        async () => {
          if (daemonError) return Promise.reject(new Error(`read models failed: ${String(daemonError)}`));
          const got = await reads.query('SELECT * FROM read_models.masked_customers ORDER BY id');
          expect(got.rows).toEqual(want);
        },
        { timeout: 60_000 },
      );
      const types = await reads.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = 'customers' AND column_name NOT LIKE '\\_sluice%'
          ORDER BY ordinal_position`,
      );
      expect(types.rows.map((r) => `${r.column_name}:${r.data_type}`)).toEqual([
        'id:integer',
        'name:text',
        'email:text',
        'pin:text',
        'phone:text',
        'notes:text',
        'body:text',
      ]);
    } finally {
      abort.abort();
      await daemon.catch(() => undefined);
      await reads.end();
    }

    await c.stop();
    console.log(`masking scenario took ${Date.now() - started} ms`);
  });
});
