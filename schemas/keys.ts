/**
 * Subject-token encoding of entity keys and identifiers.
 *
 * NATS subject tokens cannot contain `.`, `*`, `>` or whitespace, so a row's identity is encoded
 * into one token: a single key value made of `[A-Za-z0-9_-]` (at most 128 characters) is used as
 * is; anything else (composite keys, other characters, empty strings) becomes `~` followed by the
 * base64url of the JSON array of key values. Plain tokens never start with `~`, so the two forms
 * cannot collide, and the encoding is deterministic and reversible.
 */

const PLAIN = /^[A-Za-z0-9_-]{1,128}$/;

/** Key value as it appears in an event: the column's lossless JSON value. */
export type KeyValue = string | number | boolean | null;

/** Key token of events without a key (TRUNCATE, rows of tables without identity). Never produced by {@link encodeKey}. */
export const NO_KEY_TOKEN = '@none';

/**
 * Encodes key values given as JSON fragments (already-serialized JSON text, as produced by the
 * type mapping), which is what the connector holds on its hot path.
 */
export function encodeKeyFragments(fragments: readonly string[]): string {
  if (fragments.length === 1) {
    const f = fragments[0]!;
    // A JSON string fragment "abc" or a bare integer such as 42 or -7.
    if (f.charCodeAt(0) === 34 /* " */) {
      const inner = f.slice(1, -1);
      if (PLAIN.test(inner)) return inner;
    } else if (PLAIN.test(f)) {
      return f;
    }
  }
  return '~' + Buffer.from('[' + fragments.join(',') + ']', 'utf8').toString('base64url');
}

/** Encodes key values (JSON values, in key-column order) into one subject token. */
export function encodeKey(values: readonly KeyValue[]): string {
  return encodeKeyFragments(values.map((v) => JSON.stringify(v)));
}

/**
 * Decodes a key token back to its key values. A plain token decodes to a one-element array holding
 * the token as a string: integer keys come back as their decimal text, which the table's schema
 * (the key column's type) tells how to read.
 */
export function decodeKey(token: string): KeyValue[] {
  if (token.startsWith('~')) {
    const parsed: unknown = JSON.parse(Buffer.from(token.slice(1), 'base64url').toString('utf8'));
    if (!Array.isArray(parsed)) throw new TypeError(`key token ${token} does not hold a JSON array`);
    return parsed as KeyValue[];
  }
  if (!PLAIN.test(token)) throw new TypeError(`"${token}" is not a Sluice key token`);
  return [token];
}

/**
 * Encodes a schema or table name into one subject token. Names made of `[A-Za-z0-9_-]` (the usual
 * case) are kept; others become `~` + base64url of the name itself.
 */
export function encodeName(name: string): string {
  return PLAIN.test(name) ? name : '~' + Buffer.from(name, 'utf8').toString('base64url');
}

/** Reverses {@link encodeName}. */
export function decodeName(token: string): string {
  return token.startsWith('~') ? Buffer.from(token.slice(1), 'base64url').toString('utf8') : token;
}

/**
 * Encodes a schema or table name into one NATS KV key token. KV keys allow only
 * `[-/_=.a-zA-Z0-9]`, so names outside `[A-Za-z0-9_-]` become `=` + base64url of the name.
 */
export function encodeKvName(name: string): string {
  return PLAIN.test(name) ? name : '=' + Buffer.from(name, 'utf8').toString('base64url');
}

/** Reverses {@link encodeKvName}. */
export function decodeKvName(token: string): string {
  return token.startsWith('=') ? Buffer.from(token.slice(1), 'base64url').toString('utf8') : token;
}
