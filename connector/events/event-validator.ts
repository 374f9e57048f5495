/**
 * Optional check of every event the connector publishes against the contract (setting
 * `validateEvents`, off by default): the envelope and data with the zod schemas of schemas/events.ts,
 * and rows and changed values with the zod translation of the table version's JSON Schema — the
 * schema the event names in its `dataschema`. The connector builds event bodies by hand on its hot
 * path; this is the independent check that they say what the contract says.
 *
 * It decorates the two ports the processor publishes through: the schema registry (to learn the
 * row schema of each version as it is resolved) and the sink (to check each message before it is
 * handed on). `warn` logs a mismatch and publishes anyway (no data is held back); `fail` throws,
 * which ends the session — for tests, where a mismatch is a bug to see at once.
 */
import type { z } from 'zod';
import { dataschemaUri } from '../../schemas/registry.js';
import { DeltaEvent, FactEvent, HeartbeatEvent, SchemaEvent, TxMarkerEvent } from '../../schemas/events.js';
import { rowProperties, rowZod, runtimeBuilder, translateSchema } from '../../schemas/json-schema-to-zod.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ChangeSink, OutMessage, SchemaRegistry, TxTicket } from '../ports.js';

/** What a mismatch does: `warn` logs it and publishes, `fail` throws (the session ends). */
export type ValidationMode = 'warn' | 'fail';

interface Compiled {
  readonly row: z.ZodType;
  readonly columns: ReadonlyMap<string, z.ZodType>;
}

export class EventValidator {
  readonly #mode: ValidationMode;
  readonly #log: Logger;
  readonly #versions = new Map<string, Compiled>();
  /** Counters for metrics and tests. */
  readonly stats = { validated: 0, invalid: 0 };

  constructor(mode: ValidationMode, log: Logger) {
    this.#mode = mode;
    this.#log = log;
  }

  /** The registry, recording each version's row schema by its dataschema. */
  registry(inner: SchemaRegistry): SchemaRegistry {
    return {
      resolve: async (shape, at) => {
        const r = await inner.resolve(shape, at);
        const uri = dataschemaUri(shape.table, r.entry.version);
        if (!this.#versions.has(uri)) {
          const schema = r.entry.schema;
          this.#versions.set(uri, {
            row: rowZod(schema),
            columns: new Map(rowProperties(schema).map(([n, s]) => [n, translateSchema(s, runtimeBuilder)])),
          });
        }
        return r;
      },
    };
  }

  /** The sink, checking each message first. */
  sink(inner: ChangeSink): ChangeSink {
    return {
      capacity: () => inner.capacity(),
      drained: () => inner.drained(),
      begin: () => inner.begin(),
      commit: (tx: TxTicket, endLsn: bigint) => inner.commit(tx, endLsn),
      publishChange: (tx, delta, fact, onFactAck) => {
        if (delta) this.check(delta);
        if (fact) this.check(fact);
        inner.publishChange(tx, delta, fact, onFactAck);
      },
      publishDelta: (tx, msg) => {
        this.check(msg);
        inner.publishDelta(tx, msg);
      },
      // Domain events have contracts of their own, checked where they are built (outbox).
      publishShared: (tx, stream, msg, lastSubjectSeq) =>
        inner.publishShared(tx, stream, msg, lastSubjectSeq),
    };
  }

  /** Checks one message; returns the problem (also logged or thrown per the mode), or null. */
  check(msg: OutMessage): string | null {
    this.stats.validated++;
    const problem = this.#problem(msg);
    if (problem === null) return null;
    this.stats.invalid++;
    if (this.#mode === 'fail')
      throw new SluiceError(
        ErrorCodes.protocol,
        `event ${msg.id} on ${msg.subject} does not match the contract: ${problem}`,
        {
          hint: 'This is a bug in Sluice; please report it with the event.',
        },
      );
    this.#log.error(
      { id: msg.id, subject: msg.subject, problem },
      'published event does not match the contract',
    );
    return problem;
  }

  #problem(msg: OutMessage): string | null {
    let body: { type?: unknown; dataschema?: unknown; data?: Record<string, unknown> };
    try {
      body = JSON.parse(msg.body) as typeof body;
    } catch (e) {
      return `not JSON: ${(e as Error).message}`;
    }
    const generic = {
      'io.sluice.fact': FactEvent,
      'io.sluice.delta': DeltaEvent,
      'io.sluice.tx': TxMarkerEvent,
      'io.sluice.schema': SchemaEvent,
      'io.sluice.heartbeat': HeartbeatEvent,
    }[String(body.type)];
    if (!generic) return `unknown type ${String(body.type)}`;
    const g = generic.safeParse(body);
    if (!g.success) return issues(g.error);
    if (body.type !== 'io.sluice.fact' && body.type !== 'io.sluice.delta') return null;
    const v = this.#versions.get(String(body.dataschema));
    if (!v) return `dataschema ${String(body.dataschema)} is not a version the registry resolved`;
    const data = body.data!;
    if (body.type === 'io.sluice.fact') {
      if (data.row !== null) {
        const r = v.row.safeParse(data.row);
        if (!r.success) return `row: ${issues(r.error)}`;
      }
      return null;
    }
    for (const [col, change] of Object.entries(
      data.changes as Record<string, { old?: unknown; new?: unknown }>,
    )) {
      const s = v.columns.get(col);
      if (!s) return `changes: ${col} is not a column of this version`;
      for (const side of ['old', 'new'] as const) {
        if (!(side in change)) continue;
        const r = s.safeParse(change[side]);
        if (!r.success) return `changes.${col}.${side}: ${issues(r.error)}`;
      }
    }
    return null;
  }
}

function issues(e: z.ZodError): string {
  return e.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
