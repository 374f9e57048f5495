/**
 * Security (docs/security.md): TLS with client certificates to PostgreSQL (ssl = on, pg_hba
 * `hostssl … scram-sha-256 clientcert=verify-full`) and to NATS (`tls { verify: true }`, user and
 * password), a least-privilege role, and secrets that never reach the output. Certificates are made
 * here with openssl: a CA, a server certificate for 127.0.0.1, a client certificate per role, and a
 * second CA that signed nothing the servers use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  readStream,
  startNats,
  startPostgres,
  type NatsServer,
  type PostgresServer,
} from '../harness/index.js';
import { streamNames } from '../../schemas/subjects.js';
import { sluice, type CommandResult } from './sluice-command.js';
import { liveFacts, type ChildConnector } from './env.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Secrets, each distinctive so that a grep of the output finds any copy of it.
const PG_PASSWORD = 'pgPw-7f3a9c1e';
const WEAK_PASSWORD = 'weakPw-52d1b7a0';
const NATS_PASSWORD = 'natsPw-c81e55d2';
const NATS_TOKEN = 'natsTok-19b2f6e4';
const NKEY_SEED = 'SUABUKQH64SFR4ZJDGQZKQVSE2PCVLLT74HNKW4BGHOJ42B2C3IYP5BRHA';
const CREDS_SEED = 'SUABL5UZE4C27EP6T6QPFMHLANJBN4UP6JUEI5OWL6ASHA6R6TS4ZRLTZE';
const CREDS_JWT = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.credsJwtSecretPart.sig';

let dir: string;
let pgServer: PostgresServer;
let nats: NatsServer;
let db: string;
let nc: NatsConnection;
const files = (name: string) => join(dir, name);

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for 127.0.0.1/localhost and client certificates, all EC P-256. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=sluice-test-ca',
  ]);
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'other.key',
    '-out',
    'other-ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=other',
  ]);
  writeFileSync(files('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const sign = (name: string, cn: string, ext: string[] = []) => {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat(
        ['-out', `${name}.crt`, '-days', '2'],
        ext,
      ),
    );
  };
  sign('server', 'localhost', ['-extfile', 'san.cnf']);
  // clientcert=verify-full: the certificate's CN must be the role's name.
  sign('client', 'sluice_tls');
  sign('weak', 'sluice_weak');
}

function dbUrl(user: string, password: string, params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  return `postgres://${user}:${password}@127.0.0.1:${pgServer.port}/${db}?${q}`;
}

/** The environment of a command that reaches both servers over TLS as `sluice_tls`. */
function tlsEnv(over: Record<string, string> = {}): Record<string, string> {
  return {
    SLUICE_DATABASE_URL: dbUrl('sluice_tls', PG_PASSWORD, {
      sslmode: 'verify-full',
      sslrootcert: files('ca.crt'),
      sslcert: files('client.crt'),
      sslkey: files('client.key'),
    }),
    SLUICE_NATS_URL: nats.url,
    SLUICE_NATS_TLS_CA: files('ca.crt'),
    SLUICE_NATS_TLS_CERT: files('client.crt'),
    SLUICE_NATS_TLS_KEY: files('client.key'),
    SLUICE_NATS_USER: 'sluice',
    SLUICE_NATS_PASSWORD: NATS_PASSWORD,
    SLUICE_HTTP_PORT: '0',
    SLUICE_LOG_LEVEL: 'debug',
    ...over,
  };
}

const SECRETS = [
  PG_PASSWORD,
  WEAK_PASSWORD,
  NATS_PASSWORD,
  NATS_TOKEN,
  NKEY_SEED,
  CREDS_SEED,
  'credsJwtSecretPart',
];

function expectNoSecret(output: string): void {
  for (const s of SECRETS) expect(output, `output shows a secret:\n${output}`).not.toContain(s);
}

const both = (r: CommandResult) => r.stdout + r.stderr;
/** `sluice <args>` with a generous limit: a loaded machine starts Node slowly. */
const run = (args: string[], env: Record<string, string>) => sluice(args, env, 120_000);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-security-'));
  makeCertificates();
  const pem = (n: string) => readFileSync(files(n), 'utf8');
  [pgServer, nats] = await Promise.all([
    startPostgres({
      settings: {
        ssl: 'on',
        ssl_cert_file: 'server.crt',
        ssl_key_file: 'server.key',
        ssl_ca_file: 'root.crt',
      },
      files: { 'server.crt': pem('server.crt'), 'server.key': pem('server.key'), 'root.crt': pem('ca.crt') },
      hba: [
        // Both test roles: TLS only; sluice_tls also needs a client certificate for its own name.
        'hostssl all sluice_tls 127.0.0.1/32 scram-sha-256 clientcert=verify-full',
        'hostssl replication sluice_tls 127.0.0.1/32 scram-sha-256 clientcert=verify-full',
        'hostssl all sluice_weak 127.0.0.1/32 scram-sha-256',
        'hostssl replication sluice_weak 127.0.0.1/32 scram-sha-256',
        'host all sluice_tls,sluice_weak 0.0.0.0/0 reject',
        'host replication sluice_tls,sluice_weak 0.0.0.0/0 reject',
      ],
    }),
    startNats({
      config: [
        'tls {',
        `  cert_file: "${files('server.crt')}"`,
        `  key_file: "${files('server.key')}"`,
        `  ca_file: "${files('ca.crt')}"`,
        '  verify: true',
        '}',
        `authorization { user: sluice, password: "${NATS_PASSWORD}" }`,
        '',
      ].join('\n'),
      clientOptions: {
        tls: { caFile: files('ca.crt'), certFile: files('client.crt'), keyFile: files('client.key') },
        user: 'sluice',
        pass: NATS_PASSWORD,
      },
    }),
  ]);
  db = (await pgServer.createDatabase()).split('/').pop()!;
  // The least-privilege role of docs/security.md: REPLICATION, SELECT on the captured tables, and
  // the publications (made by the tables' owner) handed over to it. It owns no table.
  for (const stmt of [
    `CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL)`,
    `INSERT INTO public.items VALUES (1, 'before')`,
    `CREATE ROLE sluice_tls LOGIN REPLICATION PASSWORD '${PG_PASSWORD}'`,
    `GRANT USAGE ON SCHEMA public TO sluice_tls`,
    `GRANT SELECT ON public.items TO sluice_tls`,
    `CREATE PUBLICATION sluice FOR TABLE public.items WITH (publish_via_partition_root = true)`,
    `CREATE PUBLICATION sluice_ins WITH (publish = 'insert', publish_via_partition_root = true)`,
    `ALTER PUBLICATION sluice OWNER TO sluice_tls`,
    `ALTER PUBLICATION sluice_ins OWNER TO sluice_tls`,
    // Neither REPLICATION nor SELECT.
    `CREATE ROLE sluice_weak LOGIN PASSWORD '${WEAK_PASSWORD}'`,
  ])
    await pgServer.query(stmt, [], db);
  nc = await connect({
    servers: nats.url,
    tls: { caFile: files('ca.crt'), certFile: files('client.crt'), keyFile: files('client.key') },
    user: 'sluice',
    pass: NATS_PASSWORD,
  });
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await Promise.all([pgServer?.close(), nats?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function spawnConnector(env: Record<string, string>): ChildConnector {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/sluice.ts', 'run'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

describe('security', () => {
  it('streams over TLS to both servers as a least-privilege role; doctor and status agree; no secret in the output', async () => {
    const connector = spawnConnector(tlsEnv());
    const names = streamNames('cdc');
    /** The facts equal the table as its owner reads it over a trusted connection. */
    const factsEqualTable = () =>
      eventually(
        async () => {
          const rows = (
            await pgServer.query<{ id: number; name: string }>(`SELECT id, name FROM public.items`, [], db)
          ).rows.sort((a, b) => a.id - b.id);
          const facts = liveFacts(await readStream(nc, names.facts));
          const got = [...facts.values()]
            .map((f) => ({ id: Number(f.row!.id), name: f.row!.name }))
            .sort((a, b) => a.id - b.id);
          expect(got).toEqual(rows);
        },
        { timeout: 90_000, message: 'the facts to equal the table' },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\nconnector output:\n${connector.output().slice(-4000)}`, { cause: e });
      });
    try {
      // The initial snapshot (SELECT over TLS), then changes streamed over the replication connection.
      await factsEqualTable();
      await pgServer.query(`INSERT INTO public.items VALUES (2, 'after')`, [], db);
      await pgServer.query(`UPDATE public.items SET name = 'changed' WHERE id = 1`, [], db);
      await factsEqualTable();
      const deltas = await readStream(nc, names.deltas);
      expect(deltas.map((d) => d.subject)).toEqual(
        expect.arrayContaining(['cdc.delta.public.items.insert.2', 'cdc.delta.public.items.update.1']),
      );

      const doctor = await run(['doctor'], tlsEnv());
      expect(doctor.code, both(doctor)).toBe(0);
      expect(doctor.stdout).toContain('role sluice_tls has REPLICATION');
      expect(doctor.stdout).toContain('publication sluice is owned by sluice_tls');
      expect(doctor.stdout).toContain('role sluice_tls may SELECT all 1 captured tables');
      expect(doctor.stdout).toMatch(/ok {4}connected to NATS at nats:\/\/127\.0\.0\.1:\d+/);
      const status = await run(['status'], tlsEnv());
      expect(status.code, both(status)).toBe(0);
      expect(status.stdout).toMatch(/slot sluice: active/);
      expect(status.stdout).toMatch(/stream CDC_FACTS: 2 messages/);
      expectNoSecret(both(doctor));
      expectNoSecret(both(status));
    } finally {
      await connector.kill('SIGTERM');
    }
    // logLevel debug (tlsEnv): everything the connector would log about its connections.
    expectNoSecret(connector.output());
  });

  it('a wrong CA or password fails doctor and status with one sentence naming the setting', async () => {
    const pgUrl = (password: string, ca: string) =>
      dbUrl('sluice_tls', password, {
        sslmode: 'verify-full',
        sslrootcert: files(ca),
        sslcert: files('client.crt'),
        sslkey: files('client.key'),
      });
    const cases: [Record<string, string>, RegExp, string][] = [
      [
        { SLUICE_DATABASE_URL: pgUrl(PG_PASSWORD, 'other-ca.crt') },
        /the TLS certificate of PostgreSQL at 127\.0\.0\.1:\d+ is not trusted \(\w+\)\./,
        "Set sslrootcert in databaseUrl (SLUICE_DATABASE_URL) to the CA that signed the server's certificate",
      ],
      [
        { SLUICE_DATABASE_URL: pgUrl('wrong-password', 'ca.crt') },
        /PostgreSQL at 127\.0\.0\.1:\d+ rejected the credentials: password authentication failed for user "sluice_tls"\./,
        'Check the user and password in databaseUrl (SLUICE_DATABASE_URL).',
      ],
      [
        { SLUICE_NATS_TLS_CA: files('other-ca.crt') },
        /the TLS certificate of NATS at nats:\/\/127\.0\.0\.1:\d+ is not trusted \(\w+\)\./,
        "Set natsTlsCa (SLUICE_NATS_TLS_CA) to the CA that signed the server's certificate",
      ],
      [
        { SLUICE_NATS_PASSWORD: 'wrong-password' },
        /NATS at nats:\/\/127\.0\.0\.1:\d+ refused the credentials of natsUser \(SLUICE_NATS_USER\) and natsPassword \(SLUICE_NATS_PASSWORD\) \(authorization violation\)\./,
        'Check natsUser (SLUICE_NATS_USER) and natsPassword (SLUICE_NATS_PASSWORD)',
      ],
    ];
    // Two commands at a time: the machine may be shared, and each starts a Node process.
    for (const [over, sentence, hint] of cases) {
      const [doctor, status] = await Promise.all([
        run(['doctor'], tlsEnv(over)),
        run(['status'], tlsEnv(over)),
      ]);
      expect(doctor.code, both(doctor)).toBe(1);
      expect(doctor.stdout).toMatch(new RegExp(`^FAIL {2}${sentence.source}`, 'm'));
      expect(doctor.stdout).toContain(hint);
      expect(status.code, both(status)).toBe(1);
      // One line: the sentence and its fix, no stack trace.
      expect(status.stderr).toMatch(new RegExp(`^sluice: ${sentence.source} `));
      expect(status.stderr).toContain(hint);
      expect(status.stderr.trim().split('\n'), status.stderr).toHaveLength(1);
      expectNoSecret(both(doctor) + both(status));
    }
  });

  it('keeps every NATS secret (token, NKey seed, credentials file) out of the output', async () => {
    writeFileSync(files('user.nk'), `${NKEY_SEED}\n`, { mode: 0o600 });
    writeFileSync(
      files('user.creds'),
      [
        '-----BEGIN NATS USER JWT-----',
        CREDS_JWT,
        '------END NATS USER JWT------',
        '',
        '-----BEGIN USER NKEY SEED-----',
        CREDS_SEED,
        '------END USER NKEY SEED------',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const noUser = { SLUICE_NATS_USER: '', SLUICE_NATS_PASSWORD: '' };
    const auths: Record<string, string>[] = [
      { SLUICE_NATS_TOKEN: NATS_TOKEN },
      { SLUICE_NATS_NKEY_SEED: files('user.nk') },
      { SLUICE_NATS_CREDS: files('user.creds') },
    ];
    for (const auth of auths) {
      const [doctor, status] = await Promise.all([
        run(['doctor'], tlsEnv({ ...noUser, ...auth })),
        run(['status'], tlsEnv({ ...noUser, ...auth })),
      ]);
      // The server knows only user/password: each is refused, naming the setting that was used.
      const setting = Object.keys(auth)[0]!;
      expect(doctor.stdout, both(doctor)).toContain(`(${setting})`);
      expect(status.stderr, both(status)).toContain(`(${setting})`);
      expectNoSecret(both(doctor) + both(status));
    }
  });

  it('doctor explains a role without REPLICATION and SELECT, with the statements to run', async () => {
    const r = await run(
      ['doctor'],
      tlsEnv({
        SLUICE_DATABASE_URL: dbUrl('sluice_weak', WEAK_PASSWORD, {
          sslmode: 'verify-full',
          sslrootcert: files('ca.crt'),
        }),
      }),
    );
    expect(r.code, both(r)).toBe(1);
    const lines = r.stdout.split('\n');
    const failure = (what: string, fix: string) => {
      const i = lines.findIndex((l) => l.startsWith('FAIL  ') && l.includes(what));
      expect(i, r.stdout).toBeGreaterThanOrEqual(0);
      expect(lines[i + 1]).toBe(`      fix: ${fix}`);
    };
    failure(
      'role sluice_weak lacks REPLICATION, which the replication connection and its slot need',
      'ALTER ROLE "sluice_weak" WITH REPLICATION;',
    );
    failure(
      'role sluice_weak may not SELECT 1 captured table(s) ("public"."items"), which snapshots and sluice verify read',
      'GRANT SELECT ON "public"."items" TO "sluice_weak";',
    );
    failure(
      'publication sluice is owned by sluice_tls, so sluice_weak cannot keep its table list current',
      'ALTER PUBLICATION "sluice" OWNER TO "sluice_weak";',
    );
    expectNoSecret(both(r));
  });
});
