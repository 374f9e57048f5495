/**
 * The decode queue of a session: messages decoded from the replication socket wait here and are
 * processed in order by one loop, synchronously through whatever is queued, awaiting only when the
 * handler must. Back-pressure on the walsender: above QUEUE_HIGH queued messages the socket is
 * paused, and read again below QUEUE_LOW (or when the queue runs empty).
 */
/** Messages queued from the socket before it is paused (back-pressure on the walsender). */
export const QUEUE_HIGH = 2_000;
/** Queued messages below which a paused socket is read again. */
export const QUEUE_LOW = 200;

/** The socket the messages come from, as the queue paces it. */
export interface Flow {
  readonly paused: boolean;
  pause(): void;
  resume(): void;
}

/** Queues messages of type `M` (pgoutput messages in a session) for one processing loop. */
export class DecodeQueue<M> {
  readonly #flow: Flow;
  readonly #handle: (msg: M) => void | Promise<void>;
  readonly #queue: M[] = [];
  #head = 0;
  #wake: (() => void) | null = null;
  #stop = false;

  /** @param handle processes one message; a promise only when it has to wait */
  constructor(flow: Flow, handle: (msg: M) => void | Promise<void>) {
    this.#flow = flow;
    this.#handle = handle;
  }

  /** Messages queued and not yet taken by the loop. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues a message from the socket (pausing it above QUEUE_HIGH) and wakes the loop. */
  push(msg: M): void {
    this.#queue.push(msg);
    if (this.#queue.length - this.#head > QUEUE_HIGH) this.#flow.pause();
    if (this.#wake) {
      const w = this.#wake;
      this.#wake = null;
      w();
    }
  }

  /** The processing loop; resolves after stop(), rejects with the handler's error. */
  async run(): Promise<void> {
    const queue = this.#queue;
    const flow = this.#flow;
    while (!this.#stop) {
      if (this.#head === queue.length) {
        queue.length = 0;
        this.#head = 0;
        if (flow.paused) flow.resume();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const msg = queue[this.#head]!;
      queue[this.#head++] = undefined as never;
      const r = this.#handle(msg);
      if (r) await r;
      if (flow.paused && queue.length - this.#head < QUEUE_LOW) flow.resume();
      if (this.#head > 4096 && this.#head * 2 > queue.length) {
        queue.splice(0, this.#head);
        this.#head = 0;
      }
    }
  }

  /** Ends the loop after the message it is handling (at once when it waits for messages). */
  stop(): void {
    this.#stop = true;
    if (this.#wake) (this.#wake as () => void)();
  }
}
