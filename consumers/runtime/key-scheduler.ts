/**
 * Concurrency across keys, strict order within a key (Sequin's message groups).
 *
 * Items (events) are pushed in stream order under their key (the entity). At most one item per key
 * runs at a time and a key's items run in push order; up to `concurrency` keys run at once. An item
 * that failed stays at the head of its key (`hold`) until its retry is due (`release`): its key
 * waits, every other key keeps flowing, and a held key does not occupy a slot.
 *
 * A barrier item (a TRUNCATE, which concerns every row of a table) runs alone: after everything
 * pushed before it has completed, and before anything pushed after it starts.
 *
 * Pure bookkeeping: the runtime calls `take()` to start work and `complete`/`hold`/`release` as
 * handlers finish; nothing here knows about NATS or time.
 */

type KeyStateName = 'idle' | 'running' | 'held';

interface KeyState<T> {
  queue: T[];
  state: KeyStateName;
}

interface Gated<T> {
  key: string;
  item: T;
  barrier: boolean;
}

export class KeyScheduler<T> {
  readonly concurrency: number;
  readonly #keys = new Map<string, KeyState<T>>();
  /** Keys that are idle and have items, in the order they became ready (a fair round). */
  readonly #ready = new Set<string>();
  /** Items waiting behind a barrier (the first one is the barrier while it waits). */
  readonly #gate: Gated<T>[] = [];
  #barrierKey: string | null = null;
  #running = 0;
  #held = 0;
  #size = 0;

  /** @param concurrency most keys whose head item runs at the same time (≥ 1). */
  constructor(concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be an integer ≥ 1, got ${concurrency}`);
    }
    this.concurrency = concurrency;
  }

  /** Items held in total: queued, running and held for retry. */
  get size(): number {
    return this.#size;
  }
  /** Keys whose head item is running. */
  get running(): number {
    return this.#running;
  }
  /** Keys waiting for a retry. */
  get held(): number {
    return this.#held;
  }

  /** Appends an item to its key's queue. */
  push(key: string, item: T, barrier = false): void {
    this.#size++;
    if (this.#gate.length > 0 || this.#barrierKey !== null || barrier) {
      this.#gate.push({ key, item, barrier });
      this.#advanceGate();
      return;
    }
    this.#enqueue(key, item);
  }

  /** The next item to run, or undefined when none may start now (all busy, or nothing ready). */
  take(): { key: string; item: T } | undefined {
    if (this.#running >= this.concurrency) return undefined;
    const it = this.#ready.values().next();
    if (it.done) return undefined;
    const key = it.value;
    this.#ready.delete(key);
    const s = this.#keys.get(key)!;
    s.state = 'running';
    this.#running++;
    return { key, item: s.queue[0]! };
  }

  /** The running head item of `key` is done (handled, dead-lettered or skipped): the key moves on. */
  complete(key: string): void {
    const s = this.#keys.get(key);
    if (!s || s.state !== 'running') throw new Error(`key ${key} has no running item to complete`);
    this.#running--;
    this.#size--;
    s.queue.shift();
    s.state = 'idle';
    if (s.queue.length > 0) this.#ready.add(key);
    else this.#keys.delete(key);
    if (key === this.#barrierKey && !this.#keys.has(key)) this.#barrierKey = null;
    this.#advanceGate();
  }

  /** The running head item of `key` failed and waits for a retry: the key waits, its slot is freed. */
  hold(key: string): void {
    const s = this.#keys.get(key);
    if (!s || s.state !== 'running') throw new Error(`key ${key} has no running item to hold`);
    this.#running--;
    this.#held++;
    s.state = 'held';
  }

  /** The held head item of `key` may run again. Returns false when the key was not held. */
  release(key: string): boolean {
    const s = this.#keys.get(key);
    if (!s || s.state !== 'held') return false;
    this.#held--;
    s.state = 'idle';
    this.#ready.add(key);
    return true;
  }

  /** Whether `key` currently waits for a retry. */
  isHeld(key: string): boolean {
    return this.#keys.get(key)?.state === 'held';
  }

  /** Every item held, in no particular order (for keeping their deliveries alive). */
  *items(): Iterable<T> {
    for (const s of this.#keys.values()) yield* s.queue;
    for (const g of this.#gate) yield g.item;
  }

  #enqueue(key: string, item: T): void {
    let s = this.#keys.get(key);
    if (!s) {
      s = { queue: [], state: 'idle' };
      this.#keys.set(key, s);
    }
    s.queue.push(item);
    if (s.state === 'idle') this.#ready.add(key);
  }

  /** Lets items through the gate: everything up to the next barrier, and a barrier once all before it is done. */
  #advanceGate(): void {
    while (this.#gate.length > 0 && this.#barrierKey === null) {
      const g = this.#gate[0]!;
      if (g.barrier) {
        if (this.#keys.size > 0) return;
        this.#gate.shift();
        this.#barrierKey = g.key;
        this.#enqueue(g.key, g.item);
        return;
      }
      this.#gate.shift();
      this.#enqueue(g.key, g.item);
    }
  }
}
