import { describe, expect, it } from 'vitest';
import { backoffProblem, DEFAULT_BACKOFF, retryDelay, type Backoff } from './backoff.js';

describe('retryDelay', () => {
  it.each<[Backoff, number, number]>([
    [[100, 500, 2000], 1, 100],
    [[100, 500, 2000], 2, 500],
    [[100, 500, 2000], 3, 2000],
    [[100, 500, 2000], 9, 2000],
    [[], 3, 0],
    [{ initial: 1000, max: 60_000 }, 1, 1000],
    [{ initial: 1000, max: 60_000 }, 2, 2000],
    [{ initial: 1000, max: 60_000 }, 6, 32_000],
    [{ initial: 1000, max: 60_000 }, 7, 60_000],
    [{ initial: 1000, max: 60_000 }, 10_000, 60_000],
    [{ initial: 100, max: 1000, multiplier: 3 }, 3, 900],
    [DEFAULT_BACKOFF, 0, 1000],
  ])('%j after attempt %i waits %i ms', (b, attempt, ms) => {
    expect(retryDelay(b, attempt)).toBe(ms);
  });
});

describe('backoffProblem', () => {
  it.each<[unknown, boolean]>([
    [[0, 10], true],
    [{ initial: 1, max: 2 }, true],
    [{ initial: 1, max: 2, multiplier: 1.5 }, true],
    [[-1], false],
    [['1s'], false],
    [{ initial: 5, max: 2 }, false],
    [{ initial: 1, max: 2, multiplier: 0.5 }, false],
    [42, false],
  ])('%j valid: %s', (b, ok) => {
    expect(backoffProblem(b) === null).toBe(ok);
  });
});
