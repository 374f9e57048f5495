/**
 * Runs one consumer: its durable pull consumer, the key scheduler, retries, dead letters and
 * redrives.
 *
 * Flow of one message: delivered (stream order) → routed to its key (the entity) → queued behind
 * earlier events of that key → handler → ack. A failure is negatively acknowledged with the
 * backoff's delay and the key waits (the event stays the key's head) until the server redelivers
 * it; other keys keep flowing. After `maxDeliver` failed deliveries the event is written to
 * `<P>_DLQ` and then terminated, and its key moves on (skip and continue, see docs/consumers.md).
 *
 * Why events queued in memory stay alive: the server's ack_wait runs from delivery, so every
 * held delivery gets `working()` every ackWait/3. Why max_ack_pending bounds memory: the server
 * stops delivering new messages once that many are unacknowledged, while redeliveries (the retries
 * the held keys wait for) still arrive — blocking the pull loop instead could deadlock.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { DeltaEvent, FactEvent, TxMarkerEvent } from '../../schemas/events.js';
import { deadLetterSubject, heartbeatRequestSubject, streamNames } from '../../schemas/subjects.js';
import { retryDelay } from './backoff.js';
import { ConsumerMetrics, type ConsumerProbe } from './consumer-metrics.js';
import {
  deadLetterRecord,
  DeadLetterStore,
  originalBody,
  type DeadLetterEntry,
  type RedriveRequest,
} from './dead-letters.js';
import type { ConsumerContext, ConsumerDefinition, EventPosition, RawMessage } from './define-consumer.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import { factLookup, type FactLookup } from './fact-lookup.js';
import {
  bodyText,
  type Delivery,
  type DurableSettings,
  type JetStreamClient,
  type StoredMessage,
} from './jetstream-client.js';
import { ProcessedIds } from './idempotency.js';
import { KeyScheduler } from './key-scheduler.js';
import { traceIdOf } from './trace-context.js';
import { expectedEvents, TransactionAssembler } from './transaction-assembler.js';
import {
  filterSubjects,
  route,
  selected,
  serverFilter,
  supportsMultiFilter,
  type Routed,
  type Selection,
} from './subject-filters.js';

/** What a runner needs besides the definition. */
export interface RunnerOptions {
  client: JetStreamClient;
  /** Subject prefix of the source. Default `cdc`. */
  prefix?: string;
  /** Logger; the runner logs through a child with `module: 'consumer'` and the consumer's name. Default silent. */
  log?: Logger;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Metrics to count into (kept across the runs of one process). Default: new ones on a registry of their own. */
  metrics?: ConsumerMetrics;
  /**
   * How long each pull request lives on the server (nats.js `expires`); default nats.js' 30 s. A
   * leased runner's are short (consumer-lease.ts: order across a paused holder).
   */
  pullExpiresMs?: number;
}

interface Entry {
  readonly id: string;
  readonly source: 'stream' | 'redrive';
  delivery: Delivery;
  readonly routed: Routed;
  state: 'queued' | 'running' | 'retrying';
  readonly attemptTimes: number[];
  /** The dead letter a redrive request names. */
  readonly deadLetter?: DeadLetterEntry;
  /** handleTransaction: the transaction's event deliveries (the entry's delivery is its marker). */
  readonly txEvents?: Delivery[];
  /** Trace id of the event's application context, once parsed: on every log line about it. */
  traceId?: string;
}

/** The single ordering key of whole transactions: one at a time, in commit order. */
const TX_KEY = 'transactions';

export type RunnerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export class ConsumerRunner {
  readonly def: ConsumerDefinition;
  readonly metrics: ConsumerMetrics;
  readonly #client: JetStreamClient;
  readonly #prefix: string;
  #facts: FactLookup | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pullExpiresMs: number | undefined;
  readonly #stream: string;
  readonly #dlq: DeadLetterStore;
  readonly #selection: Selection;
  readonly #scheduler: KeyScheduler<Entry>;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  /** The lease check before each handler call (consumer-lease.ts), when a lease governs this run. */
  #fence: (() => boolean) | null = null;
  #redriveChain: Promise<void> = Promise.resolve();
  /** Set while events an earlier process held are still to be redelivered (see #recover). */
  #recovery: Recovery | null = null;
  readonly #assembler = new TransactionAssembler<Delivery>();
  readonly #waiters: (() => void)[] = [];
  #processed: Promise<ProcessedIds> | undefined;
  #state: RunnerState = 'idle';

  constructor(def: ConsumerDefinition, opts: RunnerOptions) {
    this.def = def;
    this.#client = opts.client;
    this.#prefix = opts.prefix ?? 'cdc';
    this.#log = (opts.log ?? pino({ level: 'silent' })).child({ module: 'consumer', consumer: def.name });
    this.#now = opts.now ?? Date.now;
    this.#pullExpiresMs = opts.pullExpiresMs;
    const names = streamNames(this.#prefix);
    this.#stream = def.from === 'facts' ? names.facts : names.deltas;
    this.#dlq = new DeadLetterStore(this.#client, this.#prefix);
    this.#selection = {
      prefix: this.#prefix,
      from: def.from,
      tables: def.tables,
      ops: def.ops,
      txMarkers: !!def.handleTransaction,
    };
    this.#scheduler = new KeyScheduler<Entry>(def.concurrency);
    this.metrics = opts.metrics ?? new ConsumerMetrics(def.name);
  }

  get state(): RunnerState {
    return this.#state;
  }

  /** The stream the consumer reads. */
  get stream(): string {
    return this.#stream;
  }

  /**
   * Runs until `signal` aborts: then stops pulling, lets running handlers finish, and hands events
   * still queued back to the server (nak) so another process can take them at once.
   */
  async run(signal: AbortSignal, fence?: () => boolean): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`consumer ${this.def.name} was already started`);
    this.#fence = fence ?? null;
    this.#state = 'starting';
    const def = this.def;
    if (!(await this.#client.streamInfo(this.#stream))) {
      throw new ConsumerError(ConsumerErrorCodes.notFound, `stream ${this.#stream} does not exist.`, {
        hint: 'Start the connector ("sluice run") first, or set SLUICE_PREFIX to the prefix it uses.',
      });
    }
    await this.#dlq.ensure();
    const filter = serverFilter(
      filterSubjects(this.#selection),
      supportsMultiFilter(this.#client.serverVersion),
    );
    const { clientSide, ...subjects } = filter;
    const stopPulling = () => this.#stop.abort();
    if (signal.aborted) stopPulling();
    signal.addEventListener('abort', stopPulling, { once: true });
    let start: DurableSettings['start'] = { kind: def.start === 'now' ? 'new' : 'all' };
    if (def.start === 'facts' && !(await this.#client.durableInfo(this.#stream, def.name))) {
      const seq = await this.#loadFacts();
      if (seq === null) {
        signal.removeEventListener('abort', stopPulling);
        this.#state = 'stopped';
        return;
      }
      start = { kind: 'sequence', seq };
    }
    await this.#client.ensureDurable(this.#stream, {
      name: def.name,
      description: `Sluice consumer ${def.name}`,
      ackWaitMs: def.ackWait,
      maxAckPending: def.maxAckPending,
      filter: subjects,
      start,
    });
    this.#recover(await this.#client.durableInfo(this.#stream, def.name));
    this.metrics.probe = this.#probe();
    const redriveName = `${def.name}_redrive`;
    await this.#client.ensureDurable(this.#dlq.stream, {
      name: redriveName,
      description: `Redrive requests of Sluice consumer ${def.name}`,
      ackWaitMs: def.ackWait,
      maxAckPending: 1000,
      filter: { filter_subject: `${this.#prefix}.dlq.${def.name}.redrive` },
      start: { kind: 'all' },
    });

    const keepAlive = setInterval(() => this.#keepAlive(), Math.max(500, Math.floor(def.ackWait / 3)));
    this.#state = 'running';
    this.#log.info(
      { stream: this.#stream, filter: subjects, clientSideFilter: clientSide },
      'consumer running',
    );
    try {
      await Promise.all([
        this.#client.consume(
          this.#stream,
          def.name,
          def.batch,
          (d) => {
            if (d.redelivered) this.metrics.redeliveries++;
            this.#onDelivery(d);
          },
          this.#stop.signal,
          this.#pullExpiresMs,
        ),
        this.#client.consume(
          this.#dlq.stream,
          redriveName,
          16,
          (d) => this.#onRedriveRequest(d),
          this.#stop.signal,
          this.#pullExpiresMs,
        ),
      ]);
    } finally {
      this.#stop.abort();
      this.metrics.probe = null;
      this.#state = 'stopping';
      if (this.#recovery) {
        clearTimeout(this.#recovery.timer);
        for (const d of [...this.#recovery.old, ...this.#recovery.fresh]) d.nak();
        this.#recovery = null;
      }
      signal.removeEventListener('abort', stopPulling);
      await this.#redriveChain;
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
      // Queued events go back to the server in stream order, for the next process.
      const queued = [...this.#entries.values()]
        .filter((e) => e.state === 'queued')
        .sort((a, b) => a.delivery.seq - b.delivery.seq);
      for (const e of queued) for (const m of [...(e.txEvents ?? []), e.delivery]) m.nak();
      for (const m of this.#assembler.messages()) m.nak();
      clearInterval(keepAlive);
      this.#state = 'stopped';
      this.#log.info({ returned: queued.length }, 'consumer stopped');
    }
  }

  /**
   * Order across a crash. Events an earlier process held unacknowledged come back only when their
   * ack wait (or retry delay) runs out, while new events arrive at once: handling those first
   * would put a key's later change before its earlier one. So when the consumer starts with
   * unacknowledged messages, deliveries are held back until those have come back (or at most
   * ackWait + the longest retry delay), then the old ones go first, in stream order.
   */
  #recover(info: { num_ack_pending: number; delivered: { stream_seq: number } } | null): void {
    if (!info || info.num_ack_pending === 0) return;
    const wait = this.def.ackWait + retryDelay(this.def.backoff, this.def.maxDeliver) + 2000;
    this.#recovery = {
      upTo: info.delivered.stream_seq,
      remaining: info.num_ack_pending,
      old: [],
      fresh: [],
      timer: setTimeout(() => this.#endRecovery('timeout'), wait),
    };
    this.#log.info(
      { unacknowledged: info.num_ack_pending, waitMs: wait },
      'waiting for the events an earlier process held',
    );
  }

  #endRecovery(why: 'complete' | 'timeout'): void {
    const r = this.#recovery;
    if (!r) return;
    this.#recovery = null;
    clearTimeout(r.timer);
    this.#log.info(
      { redelivered: r.old.length, held: r.fresh.length, why },
      'earlier events back; handling in stream order',
    );
    for (const d of [...r.old.sort((a, b) => a.seq - b.seq), ...r.fresh]) this.#onDelivery(d);
  }

  #onDelivery(d: Delivery): void {
    this.metrics.pending = d.pending;
    const r = this.#recovery;
    if (r && d.stream === this.#stream) {
      const list = d.seq <= r.upTo ? r.old : r.fresh;
      const i = list.findIndex((x) => x.seq === d.seq);
      if (i >= 0) list[i] = d;
      else {
        list.push(d);
        if (list === r.old) r.remaining--;
      }
      if (r.remaining <= 0) this.#endRecovery('complete');
      return;
    }
    if (this.#redelivered(d)) return;
    if (this.#stop.signal.aborted) return d.nak();
    const routed = route(this.#prefix, d.subject);
    // Commit markers, foreign subjects and (with client-side filtering) other tables or ops.
    if (!routed || !selected(this.#selection, routed)) {
      this.metrics.skipped++;
      return d.ack();
    }
    if (this.def.handleTransaction) return this.#assemble(d, routed);
    this.#enqueue({
      id: `${d.stream}:${d.seq}`,
      source: 'stream',
      delivery: d,
      routed,
      state: 'queued',
      attemptTimes: [],
    });
  }

  #onRedriveRequest(d: Delivery): void {
    if (this.#redelivered(d)) return;
    if (this.#stop.signal.aborted) return d.nak();
    // Serial, so redrives keep the order they were requested in.
    this.#redriveChain = this.#redriveChain.then(async () => {
      let req: RedriveRequest;
      try {
        req = JSON.parse(bodyText(d.data)) as RedriveRequest;
      } catch {
        this.#log.warn({ seq: d.seq }, 'redrive request is not JSON; dropped');
        return d.term('not a redrive request');
      }
      const dl = await this.#dlq.get(this.def.name, req.entry).catch(() => undefined);
      if (dl === undefined) return d.nak(1000);
      if (dl === null) {
        // Already redriven (by an earlier request) or dropped: nothing to do, exactly once.
        this.#log.info({ entry: req.entry }, 'redrive request names no open dead letter; skipped');
        return d.ack();
      }
      const routed: Routed = this.def.handleTransaction
        ? { kind: 'tx', key: TX_KEY, barrier: false }
        : (route(this.#prefix, dl.subject) ?? { kind: 'delta', key: dl.key, barrier: false });
      this.#enqueue({
        id: `${d.stream}:${d.seq}`,
        source: 'redrive',
        delivery: d,
        routed,
        state: 'queued',
        attemptTimes: [],
        deadLetter: dl,
      });
    });
  }

  /** handleTransaction: buffers deltas until their commit marker, then queues the whole transaction. */
  #assemble(d: Delivery, routed: Routed): void {
    let body: { data?: { tx?: { lsn?: unknown; seq?: unknown }; lsn?: unknown; tables?: unknown } };
    try {
      body = JSON.parse(bodyText(d.data)) as typeof body;
    } catch {
      body = {};
    }
    if (routed.kind === 'delta') {
      const tx = body.data?.tx;
      if (typeof tx?.lsn !== 'string' || typeof tx.seq !== 'number') {
        this.#log.error(
          { subject: d.subject, seq: d.seq },
          'delta without tx.lsn/tx.seq cannot be placed in a transaction; terminated',
        );
        this.metrics.skipped++;
        return d.term('not a delta');
      }
      if (this.#assembler.size >= this.def.maxAckPending - 1) {
        this.#log.error(
          { buffered: this.#assembler.size, maxAckPending: this.def.maxAckPending },
          'a transaction has more events than maxAckPending allows in flight: raise maxAckPending, or the consumer stalls',
        );
      }
      return this.#assembler.addEvent({ lsn: tx.lsn, seq: tx.seq, msg: d });
    }
    const marker = TxMarkerEvent.safeParse(body);
    if (!marker.success) {
      this.#log.error({ subject: d.subject, seq: d.seq }, 'invalid commit marker; terminated');
      this.metrics.skipped++;
      return d.term('invalid commit marker');
    }
    const expected = expectedEvents(marker.data.data.tables, this.def.tables);
    const closed = this.#assembler.close({ lsn: marker.data.data.lsn, expected, msg: d });
    for (const o of closed.orphans) o.ack();
    if (closed.orphans.length) {
      this.#log.warn(
        { events: closed.orphans.length },
        'skipped events of transactions whose commit marker is not in the stream',
      );
      this.metrics.skipped += closed.orphans.length;
    }
    if (!closed.complete || closed.events.length === 0) {
      if (!closed.complete) {
        this.#log.warn(
          { tx: marker.data.data.id, lsn: marker.data.data.lsn, have: closed.events.length, expected },
          'skipped a transaction that is not whole in the stream (cut off by the start position or retention)',
        );
      }
      for (const m of closed.events) m.ack();
      this.metrics.skipped += closed.events.length;
      return d.ack();
    }
    this.#enqueue({
      id: `${d.stream}:${d.seq}`,
      source: 'stream',
      delivery: d,
      routed: { kind: 'tx', key: TX_KEY, barrier: false },
      state: 'queued',
      attemptTimes: [],
      txEvents: closed.events,
    });
  }

  /** A delivery of a message the runtime already holds: keep the newest, resume a waiting retry. */
  #redelivered(d: Delivery): boolean {
    const e = this.#entries.get(`${d.stream}:${d.seq}`);
    if (!e) return false;
    e.delivery = d;
    if (e.state === 'retrying') {
      e.state = 'queued';
      this.#scheduler.release(e.routed.key);
      this.#pump();
    }
    return true;
  }

  #enqueue(e: Entry): void {
    this.#entries.set(e.id, e);
    this.metrics.inFlight = this.#entries.size;
    this.#scheduler.push(e.routed.key, e, e.routed.barrier);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stop.signal.aborted) {
      const t = this.#scheduler.take();
      if (!t) return;
      const p = this.#execute(t.item)
        .catch((err: unknown) => this.#log.error({ err }, 'runtime error while handling an event'))
        .finally(() => {
          this.#inflight.delete(p);
          this.#pump();
        });
      this.#inflight.add(p);
    }
  }

  async #execute(e: Entry): Promise<void> {
    if (this.def.handleTransaction) return this.#executeTransaction(e);
    e.state = 'running';
    const d = e.delivery;
    const attempt = d.deliveryCount;
    e.attemptTimes.push(this.#now());
    let body = e.deadLetter ? originalBody(e.deadLetter) : bodyText(d.data);
    try {
      // Only reference events need the object store (and an await).
      if (body.includes('"dataref":')) body = await this.#client.resolveLargeEvent(body);
    } catch (err) {
      // The object store is unreachable: a retry, not a poison event.
      return this.#failed(e, err, attempt);
    }
    const event = parseEvent(e.routed.kind, body);
    if (!event.ok) {
      // Invalid events never become valid: straight to the dead letters.
      return this.#failed(e, event.error, attempt, true);
    }
    e.traceId = traceIdOf(event.value.data.context);
    const position: EventPosition = e.deadLetter
      ? { stream: e.deadLetter.stream, sequence: e.deadLetter.sequence, version: event.value.data.version }
      : { stream: d.stream, sequence: d.seq, version: event.value.data.version };
    const ctx = this.#context(e, attempt, position, event.value.id);
    const handle = this.def.handle as (ev: unknown, c: ConsumerContext) => Promise<void> | void;
    if (!(await this.#invoke(e, attempt, () => handle(event.value, ctx)))) return;
    d.ack();
    this.metrics.processed++;
    this.#done(e);
  }

  /**
   * Runs a handler with its latency measured, then resolves a redriven dead letter. False (and the
   * failure handled) when either fails; the caller acknowledges only on true.
   */
  async #invoke(e: Entry, attempt: number, run: () => Promise<void> | void): Promise<boolean> {
    if (this.#fence && !this.#fence()) {
      // The lease ran out (this process was paused or cut off; the check also stops the runner):
      // another process may hold it now, so no handler starts here. The event goes back queued.
      e.state = 'queued';
      return false;
    }
    const started = performance.now();
    try {
      await run();
    } catch (err) {
      this.metrics.observeLatency(performance.now() - started);
      await this.#failed(e, err, attempt);
      return false;
    }
    this.metrics.observeLatency(performance.now() - started);
    if (e.deadLetter) {
      try {
        await this.#dlq.resolveRedriven(e.deadLetter);
      } catch (err) {
        await this.#failed(e, err, attempt);
        return false;
      }
      this.metrics.redriven++;
    }
    return true;
  }

  async #executeTransaction(e: Entry): Promise<void> {
    e.state = 'running';
    const d = e.delivery;
    const attempt = d.deliveryCount;
    e.attemptTimes.push(this.#now());
    let marker: TxMarkerEvent;
    let events: DeltaEvent[];
    try {
      const stored = e.deadLetter?.event as { marker: unknown; events: unknown[] } | undefined;
      marker = TxMarkerEvent.parse(stored ? stored.marker : JSON.parse(bodyText(d.data)));
      const bodies = stored
        ? stored.events.map((x) => JSON.stringify(x))
        : e.txEvents!.map((m) => bodyText(m.data));
      events = [];
      for (const b of bodies)
        events.push(DeltaEvent.parse(JSON.parse(await this.#client.resolveLargeEvent(b))));
      // A transaction has one context (docs/events.md); its first event with a trace id names it.
      for (const ev of events) if ((e.traceId = traceIdOf(ev.data.context))) break;
    } catch (err) {
      return this.#failed(e, err, attempt);
    }
    const position: EventPosition = e.deadLetter
      ? { stream: e.deadLetter.stream, sequence: e.deadLetter.sequence, version: marker.data.version }
      : { stream: d.stream, sequence: d.seq, version: marker.data.version };
    const ctx = { ...this.#context(e, attempt, position, marker.id), transaction: { events, marker } };
    if (!(await this.#invoke(e, attempt, () => this.def.handleTransaction!(events, ctx)))) return;
    for (const m of e.txEvents ?? []) m.ack();
    d.ack();
    this.metrics.processed += events.length;
    this.#done(e);
  }

  async #failed(e: Entry, err: unknown, attempt: number, final = false): Promise<void> {
    const d = e.delivery;
    const log = this.#log.child({
      subject: e.deadLetter?.subject ?? d.subject,
      seq: e.deadLetter?.sequence ?? d.seq,
      attempt,
      ...(e.traceId ? { traceId: e.traceId } : {}),
    });
    if (!final && attempt < this.def.maxDeliver) {
      const delay = retryDelay(this.def.backoff, attempt);
      log.warn({ err, retryInMs: delay }, 'handler failed; retrying');
      this.metrics.retried++;
      e.state = 'retrying';
      this.#scheduler.hold(e.routed.key);
      d.nak(delay);
      return;
    }
    if (e.deadLetter) {
      // A redrive that failed again: the dead letter stays open for another redrive or a drop.
      log.error({ err, entry: e.deadLetter.id }, 'redriven event failed again; it stays in the dead letters');
      this.metrics.redriveFailed++;
      d.ack();
      this.#done(e);
      return;
    }
    const record = deadLetterRecord({
      consumer: this.def.name,
      stream: d.stream,
      sequence: d.seq,
      subject: d.subject,
      key: e.routed.key,
      body: e.txEvents
        ? JSON.stringify({
            marker: JSON.parse(bodyText(d.data)),
            events: e.txEvents.map((m) => JSON.parse(bodyText(m.data))),
          })
        : bodyText(d.data),
      error: err,
      attempts: attempt,
      attemptTimes: e.attemptTimes,
      now: this.#now(),
    });
    try {
      const id = await this.#dlq.add(record);
      log.error({ err, deadLetter: id }, 'event dead-lettered after its last attempt; its key moves on');
    } catch (pubErr) {
      // Keep the event until the dead letter is stored: it is redelivered and tried once more.
      log.error({ err: pubErr }, 'cannot write the dead letter; retrying the event');
      this.metrics.retried++;
      e.state = 'retrying';
      this.#scheduler.hold(e.routed.key);
      d.nak(retryDelay(this.def.backoff, attempt));
      return;
    }
    this.metrics.deadLettered++;
    for (const m of e.txEvents ?? []) m.ack();
    d.term('dead-lettered');
    this.#done(e);
  }

  #done(e: Entry): void {
    this.#entries.delete(e.id);
    this.metrics.inFlight = this.#entries.size;
    this.#scheduler.complete(e.routed.key);
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves when an entry completed (or the runner stops). */
  #progress(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /**
   * `start: 'facts'` for a new consumer: hands the facts of the selected tables (the current state
   * of every row) to the handler first, then returns the deltas stream sequence to follow from.
   *
   * Which sequence: the connector publishes facts in commit order, each after its delta. So every
   * change up to the highest version V among the streamed facts read (snapshot facts excluded) has
   * its fact in what was read, and the deltas continue with the first delta whose version is
   * greater than V. Changes between a row's fact and V are delivered again as deltas: handlers of
   * a `start: 'facts'` consumer must apply if newer (docs/consumers.md). Returns null when stopped.
   */
  async #loadFacts(): Promise<number | null> {
    const names = streamNames(this.#prefix);
    const sel: Selection = { ...this.#selection, from: 'facts', ops: [], txMarkers: false };
    const filters = filterSubjects(sel);
    let highest: string | null = null;
    let n = 0;
    this.#log.info(
      { stream: names.facts },
      'start "facts": handing the current state of every row to the handler first',
    );
    await this.#client.readStream(
      names.facts,
      filters.length === 1 ? filters[0] : undefined,
      async (m) => {
        const routed = route(this.#prefix, m.subject);
        if (!routed || !selected(sel, routed)) return;
        const data = factData(m.data);
        if (data && data.op !== 'snapshot' && (highest === null || data.version > highest))
          highest = data.version;
        while (this.#entries.size >= this.def.maxAckPending && !this.#stop.signal.aborted)
          await this.#progress();
        n++;
        this.#enqueue({
          id: `${names.facts}:${m.seq}`,
          source: 'stream',
          delivery: this.#factDelivery(names.facts, m),
          routed,
          state: 'queued',
          attemptTimes: [],
        });
      },
      this.#stop.signal,
    );
    while (this.#entries.size > 0 && !this.#stop.signal.aborted) await this.#progress();
    if (this.#stop.signal.aborted) return null;
    const seq = await this.#firstDeltaAfter(highest);
    this.#log.info({ facts: n, deltasFrom: seq, after: highest }, 'facts handled; following the deltas');
    return seq;
  }

  /** A fact read by the ordered reader, as a delivery: retries are timers of this process. */
  #factDelivery(stream: string, m: StoredMessage): Delivery {
    let count = 1;
    const d: Delivery = {
      subject: m.subject,
      stream,
      seq: m.seq,
      get deliveryCount() {
        return count;
      },
      redelivered: false,
      time: m.time,
      headers: m.headers,
      data: m.data,
      pending: 0,
      ack: () => undefined,
      term: () => undefined,
      working: () => undefined,
      nak: (ms = 0) => {
        setTimeout(() => {
          count++;
          this.#redelivered(d);
        }, ms);
      },
    };
    return d;
  }

  /** The first sequence of the deltas stream whose version is greater than `v` (binary search; versions rise with the sequence). */
  async #firstDeltaAfter(v: string | null): Promise<number> {
    const { first, last } = await this.#client.streamBounds(this.#stream);
    if (v === null) return Math.max(first, 1);
    let lo = Math.max(first, 1);
    let hi = last + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      let probe = mid;
      let m = await this.#client.getMessage(this.#stream, probe);
      // A deleted or aged-out sequence: the next one present decides.
      while (!m && probe < hi - 1) m = await this.#client.getMessage(this.#stream, ++probe);
      if (!m) {
        hi = mid;
        continue;
      }
      const mv = factData(m.data)?.version ?? '';
      if (mv > v) hi = mid;
      else lo = probe + 1;
    }
    return lo;
  }

  #context(e: Entry, attempt: number, position: EventPosition, eventId: string): ConsumerContext {
    const d = e.delivery;
    let published = 0;
    const client = this.#client;
    // Built lazily: most handlers never look at them, and they cost per event (the headers,
    // a pino child logger).
    const raw: RawMessage = {
      subject: d.subject,
      stream: d.stream,
      sequence: d.seq,
      deliveryCount: d.deliveryCount,
      redelivered: d.redelivered,
      get time() {
        return d.time;
      },
      get headers() {
        return d.headers;
      },
      data: d.data,
    };
    let log: Logger | undefined;
    const parentLog = this.#log;
    const facts = () => (this.#facts ??= factLookup(client, this.#prefix, streamNames(this.#prefix).facts));
    return {
      get log() {
        return (log ??= parentLog.child({
          subject: e.deadLetter?.subject ?? d.subject,
          seq: position.sequence,
          ...(e.traceId ? { traceId: e.traceId } : {}),
        }));
      },
      attempt,
      msg: raw,
      position,
      signal: this.#stop.signal,
      working: () => e.delivery.working(),
      once: async (id, fn) => {
        this.#processed ??= ProcessedIds.open(client, this.#prefix, this.def.name);
        return (await this.#processed).once(id, fn);
      },
      prefix: this.#prefix,
      get facts() {
        return facts();
      },
      requestHeartbeat: () => client.signal(heartbeatRequestSubject(this.#prefix)),
      publish: async (subject, data, opts = {}) => {
        const n = published++;
        await client.publish(subject, JSON.stringify(data), {
          msgID: opts.id ?? `${eventId}:${subject}:${n}`,
          ...(opts.headers ? { headers: opts.headers } : {}),
        });
      },
    };
  }

  /** What the metrics ask the server at scrape time (consumer-metrics.ts). */
  #probe(): ConsumerProbe {
    const client = this.#client;
    const [stream, name] = [this.#stream, this.def.name];
    const dlq = this.#dlq.stream;
    const entries = deadLetterSubject(this.#prefix, name, 'entry');
    return {
      pending: async () => {
        const info = await client.durableInfo(stream, name);
        return info && { pending: info.num_pending, ackPending: info.num_ack_pending };
      },
      deadLetters: () => client.subjectCount(dlq, entries),
    };
  }

  #keepAlive(): void {
    for (const e of this.#entries.values()) {
      if (e.state !== 'retrying') e.delivery.working();
      for (const m of e.txEvents ?? []) m.working();
    }
    for (const m of this.#assembler.messages()) m.working();
    for (const d of this.#recovery?.fresh ?? []) d.working();
    for (const d of this.#recovery?.old ?? []) d.working();
  }
}

interface Recovery {
  /** Highest stream sequence delivered before this process started. */
  upTo: number;
  /** Unacknowledged messages not back yet. */
  remaining: number;
  old: Delivery[];
  fresh: Delivery[];
  timer: NodeJS.Timeout;
}

/** `data.version` and `data.op` of a stored event, or null when it is not an event. */
function factData(raw: Uint8Array): { version: string; op: string } | null {
  try {
    const d = (JSON.parse(bodyText(raw)) as { data?: { version?: unknown; op?: unknown } }).data;
    return typeof d?.version === 'string' ? { version: d.version, op: String(d.op) } : null;
  } catch {
    return null;
  }
}

type Parsed = { ok: true; value: FactEvent | DeltaEvent } | { ok: false; error: Error };

function parseEvent(kind: Routed['kind'], body: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    return { ok: false, error: new Error(`event is not JSON: ${(e as Error).message}`) };
  }
  const r = (kind === 'fact' ? FactEvent : DeltaEvent).safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return {
      ok: false,
      error: new Error(`event does not match the ${kind} schema: ${i.path.join('.')}: ${i.message}`),
    };
  }
  return { ok: true, value: r.data };
}
