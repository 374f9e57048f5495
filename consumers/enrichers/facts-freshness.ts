/**
 * Lookups must see at least the state a transaction left: the connector publishes a change's fact
 * only after its delta is stored, so a delta can arrive before the facts of its own transaction.
 * Facts are published in commit order, so once the fact of the transaction's last keyed change is
 * at that change's version, every earlier fact (other tables, earlier transactions) is too.
 */
import type { DeltaEvent } from '../../schemas/events.js';
import { ConsumerError, ConsumerErrorCodes } from '../runtime/errors.js';
import type { FactLookup } from '../runtime/fact-lookup.js';

/** The change whose fact must be published before the transaction's lookups, or null (no keyed change). */
export function lastKeyedChange(events: readonly DeltaEvent[]): DeltaEvent | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.data.op !== 'truncate' && e.data.key && Object.keys(e.data.key).length) return e;
  }
  return null;
}

/** Waits until the facts reflect `events` (see above), at most `waitMs`; then throws (the transaction is retried). */
export async function waitForFacts(
  facts: FactLookup,
  events: readonly DeltaEvent[],
  waitMs: number,
  signal: AbortSignal,
): Promise<void> {
  const last = lastKeyedChange(events);
  if (!last) return;
  const deadline = Date.now() + waitMs;
  let delay = 10;
  for (;;) {
    const [fact] = await facts.get(last.data.table, [last.data.key!]);
    if (fact && fact.version >= last.data.version) return;
    if (Date.now() >= deadline || signal.aborted) {
      throw new ConsumerError(
        ConsumerErrorCodes.nats,
        `the facts do not reflect ${last.data.table} at ${last.data.version} after ${waitMs} ms (found ${fact?.version ?? 'no fact'}).`,
        {
          hint: 'The connector publishes facts behind the deltas: check that it runs (sluice status); the transaction is retried.',
        },
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(200, delay * 2);
  }
}
