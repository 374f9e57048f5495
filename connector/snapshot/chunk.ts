/**
 * One chunk of a table's snapshot between its watermarks (DBLog): the rows read, and the keys the
 * replication stream changed while the window was open. At the high watermark the changed rows are
 * dropped (the stream carries their newer state) and the rest are published as snapshot facts.
 */
import type { TableInfo } from '../ports.js';
import { keyTokenOf } from '../events/tables.js';
import { NO_KEY_TOKEN } from '../../schemas/keys.js';

export class Chunk {
  readonly id: string;
  readonly table: TableInfo;
  /** The rows read (JSON fragments per column), null until the read is done. */
  rows: string[][] | null = null;
  /** Raw text of the last row's identity, for the next chunk's lower bound; null when none was read. */
  lastKey: string[] | null = null;
  readonly #changed = new Set<string>();
  #truncated = false;
  #open = false;
  /** Resolves when the high watermark was handled: the chunk's facts are with the sink. */
  readonly done: Promise<number>;
  readonly resolve: (published: number) => void;
  readonly reject: (e: Error) => void;
  /** Resolves when the chunk's last fact is acknowledged (progress may then be saved). */
  readonly acked: Promise<void>;
  readonly ack: () => void;

  constructor(id: string, table: TableInfo) {
    this.id = id;
    this.table = table;
    let resolve!: (n: number) => void;
    let reject!: (e: Error) => void;
    this.done = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.resolve = resolve;
    this.reject = reject;
    let ack!: () => void;
    this.acked = new Promise<void>((res) => (ack = res));
    this.ack = ack;
  }

  /** The low watermark came through: changes of the table count from now. */
  openWindow(): void {
    this.#open = true;
  }

  /** The high watermark came through: closes the window; false when it was not open (ignored). */
  closeWindow(): boolean {
    if (!this.#open) return false;
    this.#open = false;
    return true;
  }

  /** A key of a table changed (NO_KEY_TOKEN: the table was truncated); counts while the window is open. */
  noteChange(t: TableInfo, keyToken: string): void {
    if (!this.#open || this.table.relationId !== t.relationId) return;
    if (keyToken === NO_KEY_TOKEN) this.#truncated = true;
    else this.#changed.add(keyToken);
  }

  /** The rows read that the stream left unchanged while the window was open: none after a truncate. */
  unchangedRows(rows: readonly string[][]): string[][] {
    return this.#truncated ? [] : rows.filter((row) => !this.#changed.has(keyTokenOf(this.table, row)));
  }
}
