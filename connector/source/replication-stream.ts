/**
 * The streaming-replication connection: START_REPLICATION over pg's protocol, XLogData and
 * keepalive handling, standby status updates, and back-pressure by pausing the socket.
 *
 * Own protocol handling over `pg` instead of pg-logical-replication (see pgoutput.ts and
 * docs/operations.md, "Decision: own pgoutput decoding"): its auto-acknowledge and its timer acknowledge the last *received*
 * LSN, which loses transactions on a crash. Here the only position ever reported to PostgreSQL is
 * the one the pipeline says is durable (`confirm()`), and it is reported on a timer — also while the
 * socket is paused — so the walsender neither times out nor moves the slot past unpublished changes.
 *
 * Byte layouts: https://www.postgresql.org/docs/current/protocol-replication.html
 */
import pg from 'pg';
import { decodePgoutput, type PgoutputMessage } from './pgoutput.js';
import { formatLsn } from '../../schemas/versions.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import { explainPgError, sourceClientConfig } from './pg-connect.js';

/** Session settings that fix the text form of values (the type mapping depends on them). */
export const SESSION_OPTIONS =
  '-c DateStyle=ISO,MDY -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C';

/** What the stream delivers to its consumer. */
export interface ReplicationHandler {
  /** A decoded pgoutput message; `walStart` is the XLogData start position. */
  onMessage(msg: PgoutputMessage, walStart: bigint): void;
  /** A primary keepalive: the server's WAL end. */
  onKeepalive(walEnd: bigint): void;
}

export interface ReplicationStreamOptions {
  /** Connection URL of the source database. */
  url: string;
  slot: string;
  publications: readonly string[];
  /** Where to start; 0n lets the server start at the slot's confirmed_flush_lsn. */
  startLsn: bigint;
  /** Milliseconds between standby status updates. */
  statusIntervalMs: number;
}

const PG_EPOCH_MS = 946_684_800_000;

export class ReplicationStream {
  readonly #opts: ReplicationStreamOptions;
  readonly #handler: ReplicationHandler;
  #client: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #confirmed = 0n;
  #paused = false;
  #closed = false;
  #ended!: Promise<Error | null>;

  constructor(opts: ReplicationStreamOptions, handler: ReplicationHandler) {
    this.#opts = opts;
    this.#handler = handler;
  }

  /** The position last reported to the server as flushed. */
  get confirmed(): bigint {
    return this.#confirmed;
  }

  /**
   * Connects and starts streaming. Resolves once the server accepted START_REPLICATION; `ended`
   * then resolves when the stream stops (with the error, or null after close()).
   */
  async start(): Promise<void> {
    // The same options (TLS parameters of the URL included) as every other source connection.
    const client = new pg.Client(
      sourceClientConfig(this.#opts.url, {
        replication: 'database',
        application_name: 'sluice',
        options: SESSION_OPTIONS,
      } as pg.ClientConfig),
    );
    this.#client = client;
    let fail!: (e: Error) => void;
    this.#ended = new Promise<Error | null>((resolve) => {
      fail = (e) => resolve(e);
      client.once('end', () =>
        resolve(
          this.#closed
            ? null
            : new SluiceError(
                ErrorCodes.postgresUnreachable,
                'the replication connection to PostgreSQL ended.',
              ),
        ),
      );
    });
    // An 'error' event is the connection failing (errors of statements reject their query); pg's
    // own ("Connection terminated unexpectedly") carry no SQLSTATE, so they get our code here.
    client.on('error', (e: Error & { code?: unknown }) =>
      fail(
        typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)
          ? e
          : new SluiceError(
              ErrorCodes.postgresUnreachable,
              `the replication connection to PostgreSQL failed: ${e.message}.`,
              { cause: e },
            ),
      ),
    );
    try {
      await client.connect();
    } catch (e) {
      throw explainPgError(e, this.#opts.url);
    }
    // pg's Connection emits each CopyData message; the chunk is a view into pg's read buffer,
    // which pg reuses, so every message is decoded synchronously here (values become strings).
    const connection = (client as unknown as { connection: PgConnection }).connection;
    connection.on('copyData', (msg: { chunk: Buffer }) => {
      try {
        this.#onCopyData(msg.chunk);
      } catch (e) {
        fail(e as Error);
        void this.close();
      }
    });
    const pubs = this.#opts.publications.map((p) => `"${p}"`).join(',');
    const sql =
      `START_REPLICATION SLOT "${this.#opts.slot}" LOGICAL ${formatLsn(this.#opts.startLsn)} ` +
      `(proto_version '1', publication_names '${pubs}', messages 'true')`;
    const started = new Promise<void>((resolve, reject) => {
      connection.once('replicationStart', () => resolve());
      client
        .query(sql)
        .then(() =>
          fail(new SluiceError(ErrorCodes.postgresUnreachable, 'PostgreSQL ended the replication stream.')),
        )
        .catch((e: Error) => {
          reject(e);
          fail(e);
        });
    });
    await started;
    this.#timer = setInterval(() => this.#sendStatus(false), this.#opts.statusIntervalMs);
    this.#timer.unref();
  }

  /** Resolves when the stream stops: an Error, or null after close(). */
  get ended(): Promise<Error | null> {
    return this.#ended;
  }

  #onCopyData(chunk: Buffer): void {
    const kind = chunk[0];
    if (kind === 0x77 /* w: XLogData */) {
      const walStart = chunk.readBigUInt64BE(1);
      this.#handler.onMessage(decodePgoutput(chunk, 25), walStart);
    } else if (kind === 0x6b /* k: primary keepalive */) {
      const walEnd = chunk.readBigUInt64BE(1);
      this.#handler.onKeepalive(walEnd);
      if (chunk[17] === 1) this.#sendStatus(false);
    }
  }

  /**
   * Records that everything up to `lsn` is durable downstream. Never moves backwards: a lower
   * position is a bug in the caller and throws.
   */
  confirm(lsn: bigint): void {
    if (lsn < this.#confirmed) {
      throw new SluiceError(
        ErrorCodes.protocol,
        `confirmed position would move backwards: ${formatLsn(lsn)} < ${formatLsn(this.#confirmed)}`,
      );
    }
    this.#confirmed = lsn;
  }

  /** Sends a standby status update now (e.g. on shutdown, after the final confirm). */
  flushStatus(): void {
    this.#sendStatus(false);
  }

  #sendStatus(replyRequested: boolean): void {
    const connection = this.#connection();
    if (!connection || this.#closed) return;
    const b = Buffer.allocUnsafe(34);
    b[0] = 0x72; // 'r'
    b.writeBigUInt64BE(this.#confirmed, 1); // written
    b.writeBigUInt64BE(this.#confirmed, 9); // flushed
    b.writeBigUInt64BE(this.#confirmed, 17); // applied
    b.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    b[33] = replyRequested ? 1 : 0;
    connection.sendCopyFromChunk(b);
  }

  /** Stops reading from the socket (back-pressure); status updates continue. */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#connection()?.stream.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#connection()?.stream.resume();
  }

  get paused(): boolean {
    return this.#paused;
  }

  #connection(): PgConnection | null {
    return this.#client ? (this.#client as unknown as { connection: PgConnection }).connection : null;
  }

  /** Sends a last status update and ends the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#sendStatus(false);
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    const client = this.#client;
    if (!client) return;
    const connection = this.#connection();
    connection?.stream.resume();
    try {
      // CopyDone ends streaming cleanly; end() then closes the socket.
      connection?.endCopyFrom();
    } catch {
      /* the socket may already be gone */
    }
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    connection?.stream.destroy();
  }
}

/** The parts of pg's internal Connection this module uses. */
interface PgConnection {
  on(event: 'copyData', fn: (msg: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', fn: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { pause(): void; resume(): void; destroy(): void };
}
