/** Summarises a V8 `.cpuprofile` (node --cpu-prof): the functions with the most self time. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './paths.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Frame {
  /** `function (file:line)`. */
  frame: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, in percent. */
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  top: Frame[];
  /** Self time per file (or category), percent of busy time, largest first. */
  byFile: { file: string; selfPct: number }[];
}

/** The newest .cpuprofile in a directory, or null. */
export function newestProfile(dir: string): string | null {
  let best: { path: string; mtime: number } | null = null;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.cpuprofile')) continue;
    const path = join(dir, name);
    const mtime = statSync(path).mtimeMs;
    if (!best || mtime > best.mtime) best = { path, mtime };
  }
  return best?.path ?? null;
}

function where(url: string): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: attribute it to the sampled node.
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const frames = new Map<string, number>();
  const files = new Map<string, number>();
  let idleMs = 0;
  let busyMs = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    const file = where(cf.url);
    const name = cf.functionName || '(anonymous)';
    const key = file ? `${name} (${file}:${cf.lineNumber + 1})` : name;
    frames.set(key, (frames.get(key) ?? 0) + ms);
    const fileKey = file
      ? file.replace(/^.*node_modules\/((?:@[^/]+\/)?[^/]+)\/.*$/, 'node_modules/$1')
      : name.startsWith('(')
        ? name
        : '(native/builtin)';
    files.set(fileKey, (files.get(fileKey) ?? 0) + ms);
  }
  const pct = (ms: number) => (busyMs > 0 ? (100 * ms) / busyMs : 0);
  return {
    file,
    busyMs,
    idleMs,
    top: [...frames.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, ms]) => ({ frame, selfMs: ms, selfPct: pct(ms) })),
    byFile: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([f, ms]) => ({ file: f, selfPct: pct(ms) })),
  };
}
