/**
 * The decode queue with plain data: order, waiting handlers, back-pressure on the socket (paused
 * above QUEUE_HIGH, read again below QUEUE_LOW or when empty), stop and failure.
 */
import { describe, expect, it } from 'vitest';
import { DecodeQueue, QUEUE_HIGH, QUEUE_LOW, type Flow } from './decode-queue.js';

class FakeFlow implements Flow {
  paused = false;
  readonly log: string[] = [];
  pause() {
    this.paused = true;
    this.log.push('pause');
  }
  resume() {
    this.paused = false;
    this.log.push('resume');
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('DecodeQueue', () => {
  it('handles messages in order, awaiting a handler only when it returns a promise', async () => {
    const flow = new FakeFlow();
    const seen: number[] = [];
    const q = new DecodeQueue<number>(flow, (n) => {
      seen.push(n);
      if (n % 2 === 0) return turn();
    });
    const run = q.run();
    for (let i = 1; i <= 6; i++) q.push(i);
    expect(q.queued).toBe(6);
    while (seen.length < 6) await turn();
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.queued).toBe(0);
    q.stop();
    await run;
    expect(flow.log).toEqual([]);
  });

  it('pauses the socket above QUEUE_HIGH and reads again below QUEUE_LOW', async () => {
    const flow = new FakeFlow();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    let queuedAtResume = -1;
    const q = new DecodeQueue<number>(flow, (n) => {
      handled++;
      if (n === 0) return gate;
    });
    const origResume = flow.resume.bind(flow);
    flow.resume = () => {
      queuedAtResume = q.queued;
      origResume();
    };
    const run = q.run();
    q.push(0);
    await turn(); // the loop is held in the first message's handler
    for (let i = 1; i <= QUEUE_HIGH; i++) q.push(i);
    expect(flow.paused).toBe(false);
    q.push(QUEUE_HIGH + 1);
    expect(flow.paused).toBe(true);
    release();
    while (flow.paused) await turn();
    expect(queuedAtResume).toBe(QUEUE_LOW - 1);
    while (handled < QUEUE_HIGH + 2) await turn();
    q.stop();
    await run;
    expect(flow.log).toEqual(['pause', 'resume']);
  });

  it('reads a paused socket again when the queue runs empty', async () => {
    const flow = new FakeFlow();
    flow.paused = true;
    const q = new DecodeQueue<number>(flow, () => undefined);
    const run = q.run();
    await turn();
    expect(flow.paused).toBe(false);
    q.stop();
    await run;
  });

  it('stops after the message it is handling, and rejects with a handler error', async () => {
    const flow = new FakeFlow();
    const seen: number[] = [];
    const q: DecodeQueue<number> = new DecodeQueue<number>(flow, (n): void | Promise<void> => {
      seen.push(n);
      if (n === 1) return turn().then(() => q.stop());
    });
    const run = q.run();
    q.push(1);
    q.push(2);
    await run;
    expect(seen).toEqual([1]);

    const failing = new DecodeQueue<number>(flow, () => {
      throw new Error('boom');
    });
    const failed = failing.run();
    failing.push(1);
    await expect(failed).rejects.toThrow('boom');
  });
});
