/**
 * `ctx.facts`: the current state of related rows, read by key from the `<P>_FACTS` stream with
 * direct gets (never from the source database). The gets of one call are sent together, so a
 * lookup of many keys costs about one round trip.
 */
import { FactEvent, type FactData } from '../../schemas/events.js';
import { encodeKey, type KeyValue } from '../../schemas/keys.js';
import { factSubject } from '../../schemas/subjects.js';
import { ConsumerError, ConsumerErrorCodes } from './errors.js';
import { bodyText, type StoredMessage } from './jetstream-client.js';

/**
 * A row's key: its key columns as an object, in the table's key column order (the order of the
 * primary key or replica identity index, as in `data.key` of its events), or the values as a list.
 */
export type KeyInput = Readonly<Record<string, unknown>> | readonly KeyValue[];

/** Reads facts by key. */
export interface FactLookup {
  /**
   * The latest fact of each key of `table` (`schema.table`), in the order of `keys`: null where the
   * table has no fact for the key (never existed, or removed by a TRUNCATE). A deleted row is a
   * fact with `deleted: true` (its last row); see {@link FactLookup.rows} to skip those.
   */
  get(table: string, keys: readonly KeyInput[]): Promise<(FactData | null)[]>;
  /** The current rows of the keys: null where there is no fact or the row is deleted. */
  rows(table: string, keys: readonly KeyInput[]): Promise<(Record<string, unknown> | null)[]>;
}

/** What the lookup needs from JetStream (JetStreamClient has it). */
export interface FactReads {
  lastMessageOf(stream: string, subject: string): Promise<StoredMessage | null>;
  resolveLargeEvent(body: string): Promise<string>;
}

/** The subject of a row's fact. */
export function factSubjectOf(prefix: string, table: string, key: KeyInput): string {
  const dot = table.indexOf('.');
  if (dot <= 0 || dot === table.length - 1) {
    throw new ConsumerError(
      ConsumerErrorCodes.config,
      `facts lookup: table "${table}" is not schema.table.`,
      {
        hint: "Name the table with its schema, e.g. 'public.orders'.",
      },
    );
  }
  const values = (Array.isArray(key) ? key : Object.values(key)) as KeyValue[];
  if (values.length === 0) {
    throw new ConsumerError(ConsumerErrorCodes.config, `facts lookup on ${table}: empty key.`, {
      hint: 'Give the key columns, e.g. { id: "4" } (bigint keys are strings, as in events).',
    });
  }
  return factSubject(prefix, table.slice(0, dot), table.slice(dot + 1), encodeKey(values));
}

export function factLookup(reads: FactReads, prefix: string, factsStream: string): FactLookup {
  const get = async (table: string, keys: readonly KeyInput[]): Promise<(FactData | null)[]> => {
    const subjects = keys.map((k) => factSubjectOf(prefix, table, k));
    return Promise.all(
      subjects.map(async (subject) => {
        const m = await reads.lastMessageOf(factsStream, subject);
        if (!m) return null;
        const event = FactEvent.parse(JSON.parse(await reads.resolveLargeEvent(bodyText(m.data))));
        // A TRUNCATE marker (`@none`) never matches an encoded key, so this is the row's fact.
        return event.data;
      }),
    );
  };
  return {
    get,
    rows: async (table, keys) =>
      (await get(table, keys)).map((f) => (f && !f.deleted && f.row ? f.row : null)),
  };
}
