/**
 * Reading the application's `sluice.outbox` and `sluice.context` logical messages (the contract is in
 * schemas/outbox.ts). Pure: the change processor calls these with the message content and builds
 * the events from the result.
 *
 * Values stay JSON fragments, as row values do (see json-fragments.ts): the payload published is
 * the text the application emitted, so a big integer in it keeps every digit. It is parsed only to
 * check it (shape and, where one is registered, the type's contract).
 */
import { objectFragments } from '../json-fragments.js';
import {
  MAX_CONTEXT_BYTES,
  OutboxMessage,
  type EventContracts,
  type OutboxDeadLetterData,
} from '../../schemas/outbox.js';

/** An outbox message that becomes a domain event. */
export interface OutboxEventParts {
  ok: true;
  type: string;
  key: string;
  /** The payload's JSON text, as emitted. */
  payload: string;
}

/** An outbox message that cannot be published: it is dead-lettered with this reason. */
export interface OutboxRejection {
  ok: false;
  reason: OutboxDeadLetterData['reason'];
  /** One sentence: what is wrong and how to fix it. */
  error: string;
  /** The event type, when the message named one. */
  type?: string;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Longest list of contract violations quoted in a dead letter's error. */
const MAX_ISSUES = 5;

/** Reads an outbox message; checks its shape and, when its type has one, the payload contract. */
export function readOutboxMessage(
  content: Buffer,
  contracts: EventContracts | null,
): OutboxEventParts | OutboxRejection {
  let text: string;
  let parsed: unknown;
  try {
    text = UTF8.decode(content);
    parsed = JSON.parse(text);
  } catch {
    return {
      ok: false,
      reason: 'unreadable',
      error:
        'the sluice.outbox message is not JSON; emit {"type": …, "key": …, "payload": …} (sluice.emit does).',
    };
  }
  const shape = OutboxMessage.safeParse(parsed);
  if (!shape.success) {
    const type =
      typeof (parsed as { type?: unknown })?.type === 'string'
        ? (parsed as { type: string }).type
        : undefined;
    const issue = shape.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : 'message';
    return {
      ok: false,
      reason: 'invalid',
      error: `the sluice.outbox message is not {"type": string, "key": string, "payload": JSON}: ${where}: ${issue.message}.`,
      ...(type !== undefined ? { type } : {}),
    };
  }
  const { type, key, payload } = shape.data;
  const contract = contracts?.[type];
  if (contract) {
    const r = contract.safeParse(payload);
    if (!r.success) {
      return { ok: false, reason: 'contract', error: contractError(type, r.error.issues), type };
    }
  }
  return { ok: true, type, key, payload: objectFragments(text).get('payload')!.trim() };
}

function contractError(type: string, issues: readonly unknown[]): string {
  const parts = issues.slice(0, MAX_ISSUES).map((i) => {
    const issue = i as { path?: readonly PropertyKey[]; message?: string };
    const path = issue.path?.length ? issue.path.map(String).join('.') : '(payload)';
    return `${path}: ${issue.message ?? 'invalid'}`;
  });
  const more = issues.length > MAX_ISSUES ? ` (and ${issues.length - MAX_ISSUES} more)` : '';
  return `the payload does not match the contract of "${type}": ${parts.join('; ')}${more}. Fix the emitting code or the contract.`;
}

/** A context as the events carry it: its JSON text, or why it is ignored. */
export type ContextResult = { ok: true; json: string } | { ok: false; error: string };

/** Reads a `sluice.context` message: a JSON object of at most MAX_CONTEXT_BYTES. */
export function readContextMessage(content: Buffer): ContextResult {
  if (content.length > MAX_CONTEXT_BYTES) {
    return {
      ok: false,
      error: `a sluice.context message of ${content.length} bytes is over the ${MAX_CONTEXT_BYTES}-byte limit and is ignored; keep the context to ids (user, request, trace).`,
    };
  }
  let text: string;
  let parsed: unknown;
  try {
    text = UTF8.decode(content);
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: 'a sluice.context message is not JSON and is ignored; emit a JSON object.' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return {
      ok: false,
      error: 'a sluice.context message is not a JSON object and is ignored; emit a JSON object.',
    };
  }
  // The text as emitted, not re-serialised: JSON.stringify(JSON.parse()) would round big integers.
  return { ok: true, json: text.trim() };
}
