/**
 * The opaque pagination cursor of `GET /read-models/<name>`: the text values of the last row's order
 * column and key, so the next page starts strictly after that row (keyset pagination). Base64url of
 * JSON; a cursor that does not decode is refused with a clear error, not guessed at.
 */

/** Values of the last row returned, in the order columns' order (null for SQL NULL). */
export type CursorValues = (string | null)[];

export function encodeCursor(values: CursorValues): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

/** The values of `cursor`, or null when it is not a cursor of `width` values. */
export function decodeCursor(cursor: string, width: number): CursorValues | null {
  if (!/^[A-Za-z0-9_-]*$/.test(cursor)) return null;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== width) return null;
  if (!v.every((x) => x === null || typeof x === 'string')) return null;
  return v as CursorValues;
}
