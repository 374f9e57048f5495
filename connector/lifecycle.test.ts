import { describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { aborted, sleep } from './lifecycle.js';

describe('sleep', () => {
  it('leaves no abort listener behind when the timer fires', async () => {
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('wakes up on abort', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await p;
    await aborted(ac.signal);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
