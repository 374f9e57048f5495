/** What limits and scenarios hand back: figures for the table and JSON, series for the chart. */
import type { BenchEnv } from './bench-env.js';
import type { SampleEvents } from './sample-events.js';

export type Details = Record<string, number | string | boolean | null>;

/** A limit of the machine, measured in the same run (a denominator). */
export interface LimitResult {
  name: string;
  title: string;
  value: number | null;
  unit: string;
  note?: string;
  details?: Details;
}

/** One scenario figure: Sluice's value against the limit and the target. */
export interface ScenarioResult {
  name: string;
  /** Scenario number of the issue (1–6). */
  scenario: number;
  title: string;
  /** null: not measured (the scenario is not built yet, or it failed). */
  value: number | null;
  unit: string;
  /** The machine's limit in the same unit, or null when the target is absolute. */
  limit: number | null;
  /** value / limit, or null. */
  ratio: number | null;
  /** The target, as text (e.g. "ratio ≥ 0.8", "p99 ≤ 25 ms"). */
  target: string;
  /** Whether the target was met; null when not measured. */
  met: boolean | null;
  note?: string;
  details?: Details;
}

/** A line chart panel: one or more lines over seconds. */
export interface Series {
  title: string;
  unit: string;
  lines: { label: string; points: [t: number, y: number][] }[];
  /** Draw a horizontal dashed line here (a target or a limit). */
  reference?: { label: string; y: number };
}

export interface ScenarioOutcome {
  figures: ScenarioResult[];
  series: Series[];
}

/** What every limit and scenario is given. */
export interface BenchContext {
  readonly env: BenchEnv;
  readonly quick: boolean;
  /** Run scenario 1's connector under --cpu-prof and summarise the profile. */
  readonly profile: boolean;
  /** Skip the hand-written peer pipeline in scenario 1. */
  readonly noPeer: boolean;
  /** Limits measured so far, by name. */
  readonly limits: Map<string, LimitResult>;
  /** Real events captured at the start of the run (bodies and sizes). */
  sample: SampleEvents | null;
  /** Progress line on stderr. */
  log(line: string): void;
}

/** A scenario figure against a minimum ratio of a limit. */
export function ratioFigure(
  f: Omit<ScenarioResult, 'ratio' | 'met' | 'target'> & { minRatio: number },
): ScenarioResult {
  const { minRatio, ...rest } = f;
  const ratio = f.value !== null && f.limit !== null && f.limit > 0 ? f.value / f.limit : null;
  // Sluice cannot beat the machine: a ratio above 1 means the limit was measured low (outside load).
  const note =
    ratio !== null && ratio > 1.05
      ? `${rest.note ? `${rest.note}; ` : ''}ratio above 1: the limit was measured low (other load on the machine?)`
      : rest.note;
  return {
    ...rest,
    ...(note !== undefined ? { note } : {}),
    ratio,
    target: `ratio ≥ ${minRatio}`,
    met: ratio === null ? null : ratio >= minRatio,
  };
}

/** A scenario figure against an absolute maximum. */
export function maxFigure(
  f: Omit<ScenarioResult, 'ratio' | 'met' | 'target' | 'limit'> & { max: number; targetText?: string },
): ScenarioResult {
  const { max, targetText, ...rest } = f;
  return {
    ...rest,
    limit: null,
    ratio: null,
    target: targetText ?? `≤ ${max} ${f.unit}`,
    met: f.value === null ? null : f.value <= max,
  };
}

/** A figure that could not be measured (scenario failed); the error goes into the note. */
export function failedFigure(
  name: string,
  scenario: number,
  title: string,
  unit: string,
  target: string,
  err: unknown,
): ScenarioResult {
  return {
    name,
    scenario,
    title,
    value: null,
    unit,
    limit: null,
    ratio: null,
    target,
    met: null,
    note: `failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
  };
}
