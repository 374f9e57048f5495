import { describe, expect, it } from 'vitest';
import { KeyScheduler } from './key-scheduler.js';

/** Runs every item to completion, `concurrency` at a time, returning the start order. */
function drain(s: KeyScheduler<string>): string[] {
  const started: string[] = [];
  for (;;) {
    const batch: { key: string; item: string }[] = [];
    for (let t = s.take(); t; t = s.take()) batch.push(t);
    if (batch.length === 0) return started;
    for (const t of batch) {
      started.push(t.item);
      s.complete(t.key);
    }
  }
}

describe('KeyScheduler', () => {
  it.each<[string, number, [string, string][], string[]]>([
    [
      'one key runs in push order',
      4,
      [
        ['a', 'a1'],
        ['a', 'a2'],
        ['a', 'a3'],
      ],
      ['a1', 'a2', 'a3'],
    ],
    [
      'keys interleave, each in order',
      2,
      [
        ['a', 'a1'],
        ['a', 'a2'],
        ['b', 'b1'],
        ['c', 'c1'],
        ['b', 'b2'],
      ],
      ['a1', 'b1', 'c1', 'a2', 'b2'],
    ],
    [
      'concurrency 1 keeps push order of heads',
      1,
      [
        ['a', 'a1'],
        ['b', 'b1'],
        ['a', 'a2'],
      ],
      ['a1', 'b1', 'a2'],
    ],
  ])('%s', (_name, concurrency, pushes, want) => {
    const s = new KeyScheduler<string>(concurrency);
    for (const [k, v] of pushes) s.push(k, v);
    expect(drain(s)).toEqual(want);
    expect(s.size).toBe(0);
  });

  it('never runs more than `concurrency` keys, nor two items of one key', () => {
    const s = new KeyScheduler<string>(3);
    for (let i = 0; i < 10; i++) s.push(`k${i % 5}`, `k${i % 5}-${i}`);
    const running: { key: string; item: string }[] = [];
    for (let t = s.take(); t; t = s.take()) running.push(t);
    expect(running).toHaveLength(3);
    expect(new Set(running.map((r) => r.key)).size).toBe(3);
    expect(s.running).toBe(3);
  });

  it('a held key waits without a slot; other keys flow; release resumes the same item', () => {
    const s = new KeyScheduler<string>(1);
    s.push('a', 'a1');
    s.push('a', 'a2');
    s.push('b', 'b1');
    const first = s.take()!;
    expect(first.item).toBe('a1');
    s.hold('a');
    expect(s.isHeld('a')).toBe(true);
    const second = s.take()!;
    expect(second.item).toBe('b1');
    s.complete('b');
    expect(s.take()).toBeUndefined();
    expect(s.release('a')).toBe(true);
    expect(s.release('a')).toBe(false);
    expect(drain(s)).toEqual(['a1', 'a2']);
  });

  it('a barrier waits for everything before it and holds back everything after it', () => {
    const s = new KeyScheduler<string>(8);
    s.push('a', 'a1');
    s.push('b', 'b1');
    s.push('t', 'truncate', true);
    s.push('a', 'a2');
    s.push('c', 'c1');
    const before = [s.take()!, s.take()!];
    expect(before.map((t) => t.item)).toEqual(['a1', 'b1']);
    expect(s.take()).toBeUndefined();
    s.complete('a');
    expect(s.take()).toBeUndefined();
    s.complete('b');
    const barrier = s.take()!;
    expect(barrier.item).toBe('truncate');
    expect(s.take()).toBeUndefined();
    s.complete('t');
    expect(drain(s)).toEqual(['a2', 'c1']);
  });

  it('keeps order per key under random completion and holds (simulation)', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const s = new KeyScheduler<number>(5);
    const keyOf = new Map<number, string>();
    for (let i = 0; i < 2000; i++) {
      const k = `k${Math.floor(rnd() * 40)}`;
      keyOf.set(i, k);
      s.push(k, i, rnd() < 0.005);
    }
    const seen = new Map<string, number>();
    const active: { key: string; item: number }[] = [];
    const held: string[] = [];
    let done = 0;
    while (done < 2000) {
      for (let t = s.take(); t; t = s.take()) active.push(t);
      expect(active.length).toBeLessThanOrEqual(5);
      expect(new Set(active.map((a) => a.key)).size).toBe(active.length);
      const r = rnd();
      if (held.length && r < 0.2) {
        s.release(held.splice(Math.floor(rnd() * held.length), 1)[0]!);
        continue;
      }
      if (active.length === 0) continue;
      const [t] = active.splice(Math.floor(rnd() * active.length), 1);
      if (r < 0.3) {
        s.hold(t!.key);
        held.push(t!.key);
        continue;
      }
      const last = seen.get(t!.key) ?? -1;
      expect(t!.item).toBeGreaterThan(last);
      seen.set(t!.key, t!.item);
      s.complete(t!.key);
      done++;
    }
    expect(s.size).toBe(0);
  });

  it('rejects a bad concurrency', () => {
    expect(() => new KeyScheduler(0)).toThrow(/concurrency/);
  });
});
