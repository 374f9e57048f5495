import { describe, expect, it } from 'vitest';
import type { SnapshotProgress, SnapshotState } from '../ports.js';
import type { TableRow } from '../source/table-list.js';
import { abandonedState, afterChunk, runningState, tablesToRequest, TableProgress } from './progress.js';

const row = (table: string) => ({ schema: 'public', table }) as TableRow;
const state: SnapshotState = {
  table: 'public.t',
  status: 'pending',
  lastKey: null,
  rowsDone: 0,
  rowsTotal: 0,
  requestedAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  rate: 0,
};
const NOW = Date.parse('2026-01-02T00:00:00.000Z');

describe('tablesToRequest', () => {
  it.each([
    [false, 'initial', ['public.a', 'public.b']],
    [false, 'never', []],
    [true, 'initial', ['public.b']],
    [true, 'never', ['public.b']],
  ] as const)('initialized %s, snapshot %s → %j', (initialized, snapshot, want) => {
    expect(tablesToRequest(initialized, snapshot, [row('b')], [row('a'), row('b')])).toEqual(want);
  });
});

describe('snapshot states', () => {
  it('a running state keeps the first start time and takes the estimate', () => {
    expect(runningState(state, 50, new Date(NOW))).toMatchObject({
      status: 'running',
      startedAt: '2026-01-02T00:00:00.000Z',
      rowsTotal: 50,
    });
    const resumed = { ...state, startedAt: '2026-01-01T12:00:00.000Z' };
    expect(runningState(resumed, 50, new Date(NOW)).startedAt).toBe('2026-01-01T12:00:00.000Z');
  });

  it('a table that cannot be snapshotted is done', () => {
    expect(abandonedState(state, new Date(NOW))).toMatchObject({
      status: 'done',
      finishedAt: '2026-01-02T00:00:00.000Z',
    });
  });

  it('a full chunk moves the last key, rows done and rate; the run goes on', () => {
    const s = { ...runningState(state, 1000, new Date(NOW)), rowsDone: 100 };
    const next = afterChunk(
      s,
      { rows: 10, lastKey: ['110'] },
      { rowsDoneAtStart: 100, startMs: NOW },
      10,
      NOW + 2000,
    );
    expect(next).toMatchObject({
      status: 'running',
      lastKey: ['110'],
      rowsDone: 110,
      rate: 5,
      rowsTotal: 1000,
    });
  });

  it('a short chunk ends the table; rows total is at least the rows done', () => {
    const s = { ...runningState(state, 5, new Date(NOW)), lastKey: ['9'], rowsDone: 10 };
    const next = afterChunk(s, { rows: 0, lastKey: null }, { rowsDoneAtStart: 0, startMs: NOW }, 10, NOW);
    expect(next).toMatchObject({
      status: 'done',
      lastKey: ['9'],
      rowsDone: 10,
      rowsTotal: 10,
      finishedAt: '2026-01-02T00:00:00.000Z',
      rate: 10_000,
    });
  });
});

describe('TableProgress', () => {
  const store = () => {
    const saved: SnapshotState[] = [];
    const progress = { save: async (s: SnapshotState) => void saved.push(s) } as SnapshotProgress;
    return { saved, progress };
  };

  it('saves chunks in order, each once acknowledged', async () => {
    const { saved, progress } = store();
    const p = new TableProgress(progress);
    const never = new Promise<void>(() => undefined);
    let ack1!: () => void;
    const acked1 = new Promise<void>((r) => (ack1 = r));
    const reached: number[] = [];
    const onSaved = (s: SnapshotState) => reached.push(s.rowsDone);
    const signal = new AbortController().signal;
    void p.saveWhenAcked({ ...state, rowsDone: 1 }, acked1, signal, never, onSaved);
    const last = p.saveWhenAcked({ ...state, rowsDone: 2 }, Promise.resolve(), signal, never, onSaved);
    await Promise.resolve();
    expect(saved).toEqual([]);
    ack1();
    await last;
    expect(saved.map((s) => s.rowsDone)).toEqual([1, 2]);
    expect(reached).toEqual([1, 2]);
  });

  it('saves nothing once stopped, and nothing when the fence refuses', async () => {
    const { saved, progress } = store();
    const ctl = new AbortController();
    ctl.abort();
    await new TableProgress(progress).saveWhenAcked(
      state,
      new Promise(() => undefined),
      ctl.signal,
      Promise.resolve(),
      () => undefined,
    );
    expect(saved).toEqual([]);
    const fenced = new TableProgress(progress, () => {
      throw new Error('lease lost');
    });
    expect(() => fenced.save(state)).toThrow('lease lost');
    expect(saved).toEqual([]);
  });
});
