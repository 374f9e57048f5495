import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fakeDescription, fakeEmail } from './fake-data.js';
import { Random, mixSeed } from './random.js';

describe('Random', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const draw = (seed: number) =>
      Array.from(
        { length: 5 },
        (
          (r) => () =>
            r.uint32()
        )(new Random(seed)),
      );
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('is mulberry32 (pinned so seeded data stays the same across versions)', () => {
    const r = new Random(1);
    expect([r.uint32(), r.uint32(), r.uint32()]).toEqual([2693262067, 11749833, 2265367787]);
  });

  it('draws integers within bounds and distinct indexes', () => {
    const r = new Random(7);
    for (let i = 0; i < 1000; i++) {
      const n = r.int(3, 5);
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(5);
    }
    const picked = r.distinctIndexes(5, 5, true);
    expect([...picked].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('makes version-4 UUIDs', () => {
    const r = new Random(3);
    for (let i = 0; i < 100; i++) {
      expect(r.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('mixes seeds order-sensitively', () => {
    expect(mixSeed(1, 0, 0)).toBe(mixSeed(1, 0, 0));
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(mixSeed(1, 2 ** 33)).not.toBe(mixSeed(1, 0));
  });
});

describe('fake data', () => {
  it('writes descriptions that stay above the 2 KB TOAST threshold even after deflate', () => {
    const r = new Random(9);
    for (let i = 0; i < 20; i++) {
      const text = fakeDescription(r);
      expect(text.length).toBeGreaterThanOrEqual(4000);
      expect(text.length).toBeLessThanOrEqual(8192);
      // deflate out-compresses pglz and lz4; if it cannot get below 2 KB, PostgreSQL cannot either.
      expect(deflateSync(text).length).toBeGreaterThan(2100);
    }
  });

  it('builds emails from names and a unique part', () => {
    expect(fakeEmail("Zoë O'Brien", '17', 'example.com')).toBe('zoe.obrien.17@example.com');
  });
});
