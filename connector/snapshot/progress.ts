/**
 * A snapshot's progress in the `<P>_SNAPSHOTS` bucket (the `SnapshotProgress` port): which tables
 * to request, each table's state as its chunks complete (pure), and the writes, fenced and in
 * order, each only after its chunk's facts are acknowledged: a crash resumes from the last chunk
 * fully stored.
 */
import type { SnapshotProgress, SnapshotState } from '../ports.js';
import type { TableRow } from '../source/table-list.js';

/** "schema.table", the name a table's snapshot is kept under. */
export function snapshotName(t: TableRow): string {
  return `${t.schema}.${t.table}`;
}

/**
 * The tables to request at start: on the very first run (`initialized` false) every captured
 * table when `snapshot` is `initial`, none otherwise; later the tables new to the publication.
 */
export function tablesToRequest(
  initialized: boolean,
  snapshot: string,
  newTables: readonly TableRow[],
  allTables: readonly TableRow[],
): string[] {
  const request = initialized ? newTables : snapshot === 'initial' ? allTables : [];
  return request.map(snapshotName);
}

/** The state of a table whose snapshot starts (or resumes) now, with `rowsTotal` estimated. */
export function runningState(state: SnapshotState, rowsTotal: number, now: Date): SnapshotState {
  return { ...state, status: 'running', startedAt: state.startedAt ?? now.toISOString(), rowsTotal };
}

/** The state of a table that cannot be snapshotted (gone, or without identity): done. */
export function abandonedState(state: SnapshotState, now: Date): SnapshotState {
  return { ...state, status: 'done', finishedAt: now.toISOString() };
}

/**
 * The state after a chunk of `rows` rows ending at `lastKey` (null: none read): rows done, the
 * rate since this run started (`run`: rows done then, and when, in ms), and done when the chunk was
 * shorter than `chunkSize` (the table's end), with `rowsTotal` at least the rows done.
 */
export function afterChunk(
  s: SnapshotState,
  chunk: { rows: number; lastKey: string[] | null },
  run: { rowsDoneAtStart: number; startMs: number },
  chunkSize: number,
  nowMs: number,
): SnapshotState {
  const rowsDone = s.rowsDone + chunk.rows;
  const next: SnapshotState = {
    ...s,
    lastKey: chunk.lastKey ?? s.lastKey,
    rowsDone,
    rate: Math.round(((rowsDone - run.rowsDoneAtStart) * 1000) / Math.max(1, nowMs - run.startMs)),
  };
  if (chunk.rows >= chunkSize) return next;
  return {
    ...next,
    status: 'done',
    finishedAt: new Date(nowMs).toISOString(),
    rowsTotal: Math.max(next.rowsTotal, next.rowsDone),
  };
}

/**
 * One table's progress writes: each fenced (the leader lease with `ha: on`: a replica that lost it
 * records nothing), and those of chunks saved in chunk order once each chunk is acknowledged.
 */
export class TableProgress {
  readonly #store: SnapshotProgress;
  readonly #fence: (() => void) | undefined;
  #saved: Promise<void> = Promise.resolve();

  constructor(store: SnapshotProgress, fence?: () => void) {
    this.#store = store;
    this.#fence = fence;
  }

  /** Saves `state` now. */
  save(state: SnapshotState): Promise<void> {
    this.#fence?.();
    return this.#store.save(state);
  }

  /**
   * Saves `state` after the saves queued before it, once `acked` resolves, unless `signal` aborted
   * by then (`stopped` resolves on abort); `onSaved` runs after the write. Returns the queue's end.
   */
  saveWhenAcked(
    state: SnapshotState,
    acked: Promise<void>,
    signal: AbortSignal,
    stopped: Promise<void>,
    onSaved: (state: SnapshotState) => void,
  ): Promise<void> {
    this.#saved = this.#saved.then(async () => {
      await Promise.race([acked, stopped]);
      if (signal.aborted) return;
      await this.save(state);
      onSaved(state);
    });
    return this.#saved;
  }
}
