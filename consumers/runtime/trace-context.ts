/**
 * The trace id of an event's application context (`data.context`, docs/events.md "Application
 * context"), for the runtime's log lines about that event. The documented member is `traceId`;
 * `trace_id` and a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`) are read too, since
 * applications set whatever their tracing library calls it.
 */

/** Longest trace id put into a log line (characters); longer values are not ids. */
const MAX_LENGTH = 128;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/i;

/** The trace id in `context`, or undefined when it carries none. */
export function traceIdOf(context: unknown): string | undefined {
  if (!context || typeof context !== 'object' || Array.isArray(context)) return undefined;
  const c = context as Record<string, unknown>;
  for (const k of ['traceId', 'trace_id']) {
    const v = c[k];
    if (typeof v === 'string' && v !== '' && v.length <= MAX_LENGTH) return v;
  }
  const tp = c.traceparent;
  if (typeof tp === 'string') return TRACEPARENT.exec(tp.trim())?.[1]?.toLowerCase();
  return undefined;
}
