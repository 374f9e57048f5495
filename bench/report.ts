/**
 * The bench's output: the table printed at the end of a run, `bench/results/latest.json` (and a
 * dated copy), and an SVG chart of throughput, latency and memory over time, written by hand (no
 * charting dependency).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from './support/bench-env.js';
import type { ProfileSummary } from './support/cpu-profile.js';
import type { LimitResult, ScenarioResult, Series } from './support/figures.js';

/** The whole result of one run, as written to JSON. */
export interface BenchReport {
  version: 1;
  mode: 'quick' | 'full';
  /** The `--only` selection, or null for everything. */
  only: string | null;
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  machine: MachineInfo;
  /** The machine's limits measured in this run (the denominators). */
  limits: LimitResult[];
  /** One entry per scenario figure: name, value, unit, limit, ratio, target (+ met, note, details). */
  scenarios: ScenarioResult[];
  /** Top self-time frames of the connector draining the backlog (with --profile). */
  profile?: ProfileSummary;
  /** Errors that cut a limit or scenario short. */
  errors: string[];
  /** Chart data. */
  series: Series[];
}

/** 12345 → "12.3k", 1234567 → "1.23M", 12.345 → "12.3", 0.5 → "0.50". */
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function withUnit(v: number | null, unit: string): string {
  return v === null ? '—' : `${fmt(v)} ${unit}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The table printed at the end of a run. */
export function formatReport(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `Sluice bench (${r.mode}${r.only ? `, only ${r.only}` : ''}), ${r.startedAt}, ${r.durationSec.toFixed(0)} s`,
    `machine: ${m.cores} cores (${m.cpuModel}), ${Math.round(m.memoryMB / 1024)} GB, ${m.os}; PostgreSQL ${m.postgres}, nats-server ${m.natsServer}, Node ${m.node}`,
    `measured: ${m.revision ? `commit ${m.revision.commit}${m.revision.dirty ? ' with uncommitted changes in connector/, cli/ or schemas/' : ''}` : 'unknown revision'} (as built in dist/)`,
  );
  if (m.loadAverageAtStart > 0.5) {
    out.push(
      `warning: the 1-minute load average was ${m.loadAverageAtStart.toFixed(2)} when the run started: other work shared the machine and the figures are noisy.`,
    );
  }
  out.push('');
  if (r.limits.length) {
    out.push(
      table(
        ['limit (measured in this run)', 'value', 'note'],
        r.limits.map((l) => [l.title, withUnit(l.value, l.unit), l.note ?? '']),
      ),
      '',
    );
  }
  out.push(
    table(
      ['scenario', 'Sluice', 'limit', 'ratio', 'target', 'met'],
      r.scenarios.map((s) => [
        `${s.scenario}. ${s.title}`,
        s.value === null
          ? s.note?.startsWith('failed')
            ? 'failed'
            : 'not measured yet'
          : withUnit(s.value, s.unit),
        withUnit(s.limit, s.unit),
        s.ratio === null ? '—' : s.ratio.toFixed(2),
        s.target,
        s.met === null ? '—' : s.met ? 'yes' : 'NO',
      ]),
    ),
  );
  const notes = r.scenarios.filter((s) => s.note).map((s) => `  ${s.scenario}. ${s.title}: ${s.note}`);
  if (notes.length) out.push('', 'notes:', ...notes);
  out.push(
    '',
    'Latency is commit → stored in JetStream, taken at a core NATS subscriber on cdc.delta.> (a delta',
    'reaches it as JetStream stores it, a fraction of a millisecond before the connector gets the ack).',
  );
  if (r.profile) {
    out.push(
      '',
      `connector CPU profile while draining the backlog (busy ${fmt(r.profile.busyMs / 1000)} s):`,
    );
    for (const f of r.profile.top) out.push(`  ${f.selfPct.toFixed(1).padStart(5)} %  ${f.frame}`);
    out.push('  by file:');
    for (const f of r.profile.byFile) out.push(`  ${f.selfPct.toFixed(1).padStart(5)} %  ${f.file}`);
  }
  if (r.errors.length) out.push('', 'errors:', ...r.errors.map((e) => `  ${e}`));
  return out.join('\n');
}

/** Writes latest.json/.svg and dated copies; returns the paths written. */
export function writeReport(dir: string, r: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const json = JSON.stringify(r, null, 2) + '\n';
  const svg = renderChart(r);
  const files = [
    [join(dir, 'latest.json'), json],
    [join(dir, `${stamp}-${r.mode}.json`), json],
    [join(dir, 'latest.svg'), svg],
    [join(dir, `${stamp}-${r.mode}.svg`), svg],
  ] as const;
  for (const [path, text] of files) writeFileSync(path, text);
  return files.map(([p]) => p);
}

// ─── SVG ──────────────────────────────────────────────────────────────────────────────────────

const W = 960;
const PANEL_H = 230;
const M = { left: 70, right: 20, top: 34, bottom: 34 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `span`. */
function niceStep(span: number, n: number): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function panel(s: Series, y0: number): string {
  const pw = W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  const pts = s.lines.flatMap((l) => l.points).filter(([t, y]) => Number.isFinite(t) && Number.isFinite(y));
  const xMax = Math.max(1, ...pts.map(([t]) => t));
  const yTop = Math.max(1e-9, ...pts.map(([, y]) => y), s.reference?.y ?? 0) * 1.08;
  const xStep = niceStep(xMax, 10);
  const yStep = niceStep(yTop, 5);
  const X = (t: number) => M.left + (t / xMax) * pw;
  const Y = (y: number) => y0 + M.top + ph - (Math.min(y, yTop) / yTop) * ph;
  const parts: string[] = [];
  parts.push(
    `<text x="${M.left}" y="${y0 + 20}" font-size="14" font-weight="bold">${esc(s.title)}</text>`,
    `<rect x="${M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
  );
  for (let y = 0; y <= yTop + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${M.left - 6}" y="${(Y(y) + 4).toFixed(1)}" font-size="11" text-anchor="end">${esc(fmt(y))}</text>`,
    );
  }
  for (let t = 0; t <= xMax + 1e-9; t += xStep) {
    parts.push(
      `<text x="${X(t).toFixed(1)}" y="${y0 + M.top + ph + 15}" font-size="11" text-anchor="middle">${esc(fmt(t))}</text>`,
    );
  }
  parts.push(
    `<text x="${M.left + pw}" y="${y0 + PANEL_H - 4}" font-size="11" text-anchor="end">seconds</text>`,
    `<text x="14" y="${y0 + M.top + ph / 2}" font-size="11" transform="rotate(-90 14 ${y0 + M.top + ph / 2})" text-anchor="middle">${esc(s.unit)}</text>`,
  );
  if (s.reference) {
    const y = Y(s.reference.y).toFixed(1);
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`,
      `<text x="${M.left + 6}" y="${Number(y) - 4}" font-size="11" fill="#555">${esc(`${s.reference.label} ${fmt(s.reference.y)}`)}</text>`,
    );
  }
  s.lines.forEach((l, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = l.points
      .filter(([t, y]) => Number.isFinite(t) && Number.isFinite(y))
      .map(([t, y]) => `${X(t).toFixed(1)},${Y(y).toFixed(1)}`)
      .join(' ');
    if (d) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${d}"/>`);
    const lx = M.left + pw - 150;
    const ly = y0 + M.top + 16 + i * 16;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${lx + 24}" y="${ly}" font-size="11">${esc(l.label)}</text>`,
    );
  });
  return parts.join('\n');
}

/** Every series as a stacked line chart. */
export function renderChart(r: BenchReport): string {
  const head = 50;
  const h = head + Math.max(1, r.series.length) * PANEL_H;
  const m = r.machine;
  const body = r.series.length
    ? r.series.map((s, i) => panel(s, head + i * PANEL_H)).join('\n')
    : `<text x="${M.left}" y="${head + 30}" font-size="13">no time series in this run</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif">`,
    `<rect width="${W}" height="${h}" fill="white"/>`,
    `<text x="${M.left}" y="22" font-size="16" font-weight="bold">${esc(`Sluice bench (${r.mode}) ${r.startedAt}`)}</text>`,
    `<text x="${M.left}" y="40" font-size="12">${esc(`${m.cores} cores, PostgreSQL ${m.postgres}, nats-server ${m.natsServer}, Node ${m.node}`)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}
