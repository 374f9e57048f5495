/**
 * The restart loop: the backoff sequence, fatal errors, stopping, and an early wake.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError, type ErrorCode } from './errors.js';
import { backoffAfter, FATAL_CODES, FIRST_BACKOFF_MS, MAX_BACKOFF_MS, RestartLoop } from './restarts.js';

describe('backoffAfter', () => {
  it('doubles up to the maximum, and starts over after a healthy session or a lost lease', () => {
    let current = FIRST_BACKOFF_MS;
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const { waitMs, nextMs } = backoffAfter(current, 1_000, ErrorCodes.natsUnreachable);
      waits.push(waitMs);
      current = nextMs;
    }
    expect(waits).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
    expect(backoffAfter(MAX_BACKOFF_MS, 61_000, ErrorCodes.natsUnreachable)).toEqual({
      waitMs: 500,
      nextMs: 1_000,
    });
    expect(backoffAfter(MAX_BACKOFF_MS, 10, ErrorCodes.leaseLost)).toEqual({ waitMs: 500, nextMs: 1_000 });
  });
});

describe('RestartLoop', () => {
  it('throws an error a restart cannot fix, without reporting it as a failure', async () => {
    const code = [...FATAL_CODES][0]! as ErrorCode;
    const reported: string[] = [];
    const run = new RestartLoop().run(
      new AbortController().signal,
      async () => {
        throw new SluiceError(code, 'cannot go on.');
      },
      async (err) => void reported.push(err.code),
    );
    await expect(run).rejects.toMatchObject({ code });
    expect(reported).toEqual([]);
  });

  it('restarts a failed session after the backoff, which a wake ends early, until the signal aborts', async () => {
    const stop = new AbortController();
    const loop = new RestartLoop();
    const reported: [string, number][] = [];
    let sessions = 0;
    const run = loop.run(
      stop.signal,
      async () => {
        sessions++;
        if (sessions === 3) {
          stop.abort();
          return;
        }
        throw new SluiceError(ErrorCodes.natsUnreachable, 'the connection to NATS was lost.');
      },
      async (err, retryInMs) => {
        reported.push([err.code, retryInMs]);
        // Woken while it waits (a backoff of 500 ms, then 1 s, would otherwise pass).
        setImmediate(() => loop.wake());
      },
    );
    await run;
    expect(sessions).toBe(3);
    expect(reported).toEqual([
      [ErrorCodes.natsUnreachable, 500],
      [ErrorCodes.natsUnreachable, 1_000],
    ]);
  });

  it('does not report a failure once the signal aborted', async () => {
    const stop = new AbortController();
    const reported: string[] = [];
    await new RestartLoop().run(
      stop.signal,
      async () => {
        stop.abort();
        throw new Error('connection closed while stopping');
      },
      async (err) => void reported.push(err.code),
    );
    expect(reported).toEqual([]);
  });
});
