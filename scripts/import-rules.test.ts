/**
 * Dependencies point one way (DEVELOPERS.md, "Layout"): this test reads every TypeScript file's
 * imports with the TypeScript compiler's own pre-processor (type-only imports, re-exports and
 * dynamic `import()` included) and fails on an import that breaks the direction — between the
 * top-level folders, and between the connector's stages — or that closes a cycle of modules inside
 * `connector/`. The rules are the "May import" lines of the folders' READMEs, as data. It also
 * fails when a connector module other than the one wrapping it imports a third-party client
 * (`pg`, `@nats-io/*`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = new Set(['node_modules', 'dist', '.git', '.scratch', 'results']);

/** Public entry points (package.json `exports`), as the examples import them. */
const PACKAGE_ENTRIES: Record<string, string> = {
  'sluice/client': 'client/index.ts',
  'sluice/consumers': 'consumers/index.ts',
  'sluice/schemas': 'schemas/index.ts',
  sluice: 'schemas/index.ts',
};

/**
 * Zones and what each may import (besides itself). A file's zone is the first rule whose prefix
 * its path starts with (paths relative to the repository, `/`-separated).
 */
const ZONES: { zone: string; prefix: string | RegExp; mayImport: readonly string[] }[] = [
  // Inside the connector: the composition root and the status readers see every stage…
  ...['connector.ts', 'session.ts', 'table-refresh.ts', 'status.ts', 'status-poller.ts'].map((f) => ({
    zone: 'connector: composition',
    prefix: `connector/${f}`,
    mayImport: ['connector', 'schemas', 'observability', 'connections'],
  })),
  // …the ports are types between the stages; the source's two data formats import nothing…
  {
    zone: 'connector/ports',
    prefix: 'connector/ports.ts',
    mayImport: ['schemas', 'connector/source data formats'],
  },
  {
    zone: 'connector/source data formats',
    prefix: 'connector/source/pgoutput.',
    mayImport: ['connector: base'],
  },
  {
    zone: 'connector/source data formats',
    prefix: 'connector/source/type-catalog.',
    mayImport: ['connector: base'],
  },
  // …and each stage imports the ports, the shared base and the stages upstream of it only.
  {
    zone: 'connector/source',
    prefix: 'connector/source/',
    mayImport: [
      'connector/source data formats',
      'connector/ports',
      'connector: base',
      'schemas',
      'connections',
    ],
  },
  {
    // The column policy is configuration turned into mappers: config.ts builds it at the edge.
    zone: 'connector/events: column policy',
    prefix: 'connector/events/column-policy.',
    mayImport: [
      'connector/events',
      'connector/source',
      'connector/source data formats',
      'connector/ports',
      'connector: base',
      'schemas',
    ],
  },
  {
    zone: 'connector/events',
    prefix: 'connector/events/',
    mayImport: [
      'connector/source',
      'connector/source data formats',
      'connector/ports',
      'connector: base',
      'schemas',
    ],
  },
  {
    zone: 'connector/sink',
    prefix: 'connector/sink/',
    // connections/: the KV compare-and-set of the lease bucket, shared with the consumer leases.
    mayImport: ['connector/ports', 'connector: base', 'schemas', 'connections'],
  },
  {
    zone: 'connector/snapshot',
    prefix: 'connector/snapshot/',
    mayImport: [
      'connector/source',
      'connector/source data formats',
      'connector/events',
      'connector/ports',
      'connector: base',
      'schemas',
    ],
  },
  {
    zone: 'connector/observability',
    prefix: 'connector/observability/',
    mayImport: ['connector/ports', 'connector: base', 'schemas', 'observability'],
  },
  {
    // The leader lease of replicas (a KV bucket) and the slot takeover: beside the pipeline.
    zone: 'connector/ha',
    prefix: 'connector/ha/',
    // source/: the SQL connection's interface (the takeover terminates a walsender over SQL).
    mayImport: ['connector/source', 'connector/sink', 'connector/ports', 'connector: base', 'schemas'],
  },
  {
    zone: 'connector/verify',
    prefix: 'connector/verify/',
    mayImport: [
      'connector/source',
      'connector/source data formats',
      'connector/events',
      'connector/sink',
      'connector/ports',
      'connector: base',
      'schemas',
    ],
  },
  {
    zone: 'connector: config',
    prefix: 'connector/config.',
    mayImport: ['connector: base', 'connector/events: column policy', 'schemas', 'connections'],
  },
  // The shared base: configuration, errors, logging, lifecycle, JSON fragments (files directly in
  // connector/; a new folder needs its own rule).
  { zone: 'connector: base', prefix: /^connector\/[^/]+$/, mayImport: ['schemas', 'connections'] },
  // Top-level folders.
  { zone: 'schemas', prefix: 'schemas/', mayImport: [] },
  // How every connection to PostgreSQL and NATS is made (TLS, credentials, redaction).
  { zone: 'connections', prefix: 'connections/', mayImport: [] },
  { zone: 'observability', prefix: 'observability/', mayImport: [] },
  { zone: 'client', prefix: 'client/', mayImport: ['schemas'] },
  { zone: 'consumers', prefix: 'consumers/', mayImport: ['schemas', 'observability', 'connections'] },
  {
    zone: 'cli: demo',
    prefix: 'cli/commands/demo.ts',
    mayImport: [
      'cli',
      'connector',
      'consumers',
      'schemas',
      'observability',
      'connections',
      'examples/shop',
      'test/harness',
    ],
  },
  {
    zone: 'cli',
    prefix: 'cli/',
    mayImport: ['connector', 'consumers', 'schemas', 'observability', 'connections', 'examples/shop'],
  },
  // Example consumers, enrichers and the outbox application use the public package API only.
  { zone: 'examples/shop: API users', prefix: 'examples/shop/consumers/', mayImport: ['package API'] },
  { zone: 'examples/shop: API users', prefix: 'examples/shop/enrichers/', mayImport: ['package API'] },
  { zone: 'examples/shop: API users', prefix: 'examples/shop/outbox/', mayImport: ['package API'] },
  { zone: 'examples/shop', prefix: 'examples/shop/', mayImport: [] },
  {
    zone: 'bench',
    prefix: 'bench/',
    mayImport: ['connector', 'schemas', 'observability', 'examples/shop', 'test/harness'],
  },
  { zone: 'scripts', prefix: 'scripts/', mayImport: ['*', '!test'] },
  // Deployment material: its dashboard test reads the metric registries.
  { zone: 'deploy', prefix: 'deploy/', mayImport: ['connector', 'consumers', 'observability'] },
  { zone: 'test/harness', prefix: 'test/harness/', mayImport: ['*'] },
  { zone: 'test', prefix: 'test/', mayImport: ['*'] },
];

/** The zone of a file, and the folder names it counts as (for rules naming a folder). */
function zoneOf(file: string): { zone: string; folders: string[] } | null {
  const z = ZONES.find((r) =>
    typeof r.prefix === 'string' ? file.startsWith(r.prefix) : r.prefix.test(file),
  );
  if (!z) return null;
  const folders = [z.zone];
  const top = file.split('/')[0]!;
  folders.push(top);
  if (file.startsWith('examples/shop/')) folders.push('examples/shop');
  if (file.startsWith('test/harness/')) folders.push('test/harness');
  // Zones carved out of a wider one still count as it for the files that import them.
  if (z.zone === 'connector/events: column policy') folders.push('connector/events');
  if (z.zone === 'connector: config') folders.push('connector: base');
  return { zone: z.zone, folders };
}

function allowed(from: string, to: string, viaPackage: boolean): boolean {
  const a = zoneOf(from);
  const b = zoneOf(to);
  if (!a || !b) return true; // root files (vitest.config.ts, eslint.config.js)
  if (a.zone === b.zone || b.folders.includes(a.zone)) return true;
  // Outside the connector a folder's files import each other freely.
  const top = from.split('/')[0]!;
  if (top !== 'connector' && top !== 'examples' && top === to.split('/')[0]) return true;
  // A unit test may use the example application's definitions as test data.
  if (from.endsWith('.test.ts') && to.startsWith('examples/shop/') && !a.folders.includes('examples/shop'))
    return true;
  const rule = ZONES.find((r) => r.zone === a.zone)!.mayImport;
  if (rule.includes('package API')) return viaPackage;
  if (rule.includes('*')) return !rule.some((r) => r.startsWith('!') && b.folders.includes(r.slice(1)));
  // Within the connector, a rule naming `connector` means any of its modules.
  return b.folders.some((f) => rule.includes(f));
}

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface Edge {
  from: string;
  to: string;
  viaPackage: boolean;
}

/** A file's imports of our modules (edges), and the npm packages it imports by name. */
function imports(file: string): { edges: Edge[]; packages: { from: string; name: string }[] } {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const from = relative(ROOT, file).split(sep).join('/');
  const edges: Edge[] = [];
  const packages: { from: string; name: string }[] = [];
  for (const { fileName } of info.importedFiles) {
    if (fileName.startsWith('.')) {
      const target = resolve(dirname(file), fileName).replace(/\.js$/, '.ts');
      edges.push({ from, to: relative(ROOT, target).split(sep).join('/'), viaPackage: false });
    } else if (PACKAGE_ENTRIES[fileName]) {
      edges.push({ from, to: PACKAGE_ENTRIES[fileName], viaPackage: true });
    } else {
      packages.push({ from, name: fileName });
    }
  }
  return { edges, packages };
}

/**
 * Third-party clients are wrapped once (CONVENTIONS.md, 2): inside `connector/` only these modules
 * import them; every other one uses our interfaces — `SqlClient` (source/sql-connection.ts),
 * `NatsClient` and `StreamManager` (nats-connection.ts) and the functions of `sink/`, the NATS stage.
 * Unit tests of the wrapping modules' folder may import them too. `consumers/` keeps its own.
 */
const CLIENT_WRAPPERS: {
  client: string;
  imports: (name: string) => boolean;
  wrapper: (file: string) => boolean;
}[] = [
  {
    client: 'pg',
    imports: (name) => name === 'pg' || name.startsWith('pg/'),
    wrapper: (file) =>
      [
        'connector/source/sql-connection.ts',
        'connector/source/replication-stream.ts',
        'connector/source/pg-connect.ts',
      ].includes(file),
  },
  {
    client: '@nats-io/*',
    imports: (name) => name.startsWith('@nats-io/'),
    wrapper: (file) => file.startsWith('connector/sink/') || file === 'connector/nats-connection.ts',
  },
];

/** Whether `file` may import the npm package `name` (only connector/ files are restricted). */
function clientImportAllowed(file: string, name: string): boolean {
  if (!file.startsWith('connector/')) return true;
  return CLIENT_WRAPPERS.every((w) => !w.imports(name) || w.wrapper(file));
}

const FILES = tsFiles(ROOT);
const PARSED = FILES.map(imports);
const EDGES = PARSED.flatMap((p) => p.edges);
const PACKAGE_IMPORTS = PARSED.flatMap((p) => p.packages);

describe('imports point one way', () => {
  it('every file has a zone', () => {
    const without = FILES.map((f) => relative(ROOT, f).split(sep).join('/')).filter(
      (f) => f.includes('/') && !zoneOf(f),
    );
    expect(without).toEqual([]);
  });

  it('no import breaks the direction between folders and connector stages', () => {
    const broken = EDGES.filter((e) => !allowed(e.from, e.to, e.viaPackage)).map(
      (e) => `${e.from} (${zoneOf(e.from)!.zone}) imports ${e.to} (${zoneOf(e.to)!.zone})`,
    );
    expect(broken).toEqual([]);
  });

  it('no cycle of modules inside connector/', () => {
    const graph = new Map<string, string[]>();
    for (const e of EDGES) {
      if (!e.from.startsWith('connector/') || !e.to.startsWith('connector/')) continue;
      graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (n: string): void => {
      state.set(n, 'open');
      stack.push(n);
      for (const m of graph.get(n) ?? []) {
        if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m].join(' → '));
        else if (!state.has(m)) visit(m);
      }
      stack.pop();
      state.set(n, 'done');
    };
    for (const n of graph.keys()) if (!state.has(n)) visit(n);
    expect(cycles).toEqual([]);
  });

  it('third-party clients are imported only by the connector modules that wrap them', () => {
    const broken = PACKAGE_IMPORTS.filter((p) => !clientImportAllowed(p.from, p.name)).map(
      (p) => `${p.from} imports ${p.name}`,
    );
    expect(broken).toEqual([]);
  });

  it.each([
    ['connector/session.ts', 'pg'],
    ['connector/snapshot/snapshotter.ts', 'pg'],
    ['connector/verify/table-reader.ts', 'pg'],
    ['connector/source/slot.ts', 'pg'],
    ['connector/session.ts', '@nats-io/jetstream'],
    ['connector/ha/leader-lease.ts', '@nats-io/kv'],
    ['connector/verify/fact-source.ts', '@nats-io/transport-node'],
  ])('refuses %s importing %s', (file, name) => {
    expect(clientImportAllowed(file, name)).toBe(false);
  });

  // The rules themselves: a sample of imports that must fail, so a rule cannot silently pass all.
  it.each([
    ['connector/sink/jetstream-sink.ts', 'connector/events/change-processor.ts'],
    ['connector/source/sql-ports.ts', 'connector/events/tables.ts'],
    ['connector/decode-queue.ts', 'connector/source/pgoutput.ts'],
    ['connector/restarts.ts', 'connector/session.ts'],
    ['connector/events/change-processor.ts', 'connector/sink/jetstream-sink.ts'],
    ['connector/snapshot/snapshotter.ts', 'connector/sink/streams.ts'],
    ['connector/observability/metrics.ts', 'connector/events/change-processor.ts'],
    ['connector/ports.ts', 'connector/events/tables.ts'],
    ['connector/errors.ts', 'connector/ports.ts'],
    ['connector/config.ts', 'connector/events/tables.ts'],
    ['connector/sink/streams.ts', 'connector/events/column-policy.ts'],
    ['consumers/runtime/consumer-host.ts', 'connector/config.ts'],
    ['schemas/events.ts', 'connector/errors.ts'],
    ['examples/shop/seed.ts', 'schemas/keys.ts'],
    ['cli/commands/run.ts', 'test/harness/index.ts'],
  ])('refuses %s → %s', (from, to) => {
    expect(allowed(from, to, false)).toBe(false);
  });
});
