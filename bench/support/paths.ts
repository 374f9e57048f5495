/** Where the package lives, whether the bench runs compiled (dist/bench/…) or from source. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sluice') {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the sluice package root above ' + import.meta.url);
    dir = up;
  }
}

/** The package root (holds package.json, dist/, bench/). */
export const ROOT = findRoot();

/** The compiled `sluice` command the bench runs as a child process. */
export const SLUICE_CLI = join(ROOT, 'dist', 'cli', 'sluice.js');

/** Where results (JSON, SVG, profiles) are written. */
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
