/**
 * Splits a JSON object's text into its members' raw value texts without parsing the values.
 *
 * Sluice keeps row values as JSON fragments (see type-mapping.ts) so big integers inside jsonb stay
 * exact. When the previous row of an entity comes back from the facts stream, this scanner recovers
 * those fragments from the stored event text, so a JSON.parse round trip never loses digits.
 */

/** Index just after the JSON value starting at `i` (whitespace already skipped). */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34 /* " */) return skipString(s, i);
  if (c === 123 /* { */ || c === 91 /* [ */) {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === 34) {
        j = skipString(s, j) - 1;
      } else if (d === 123 || d === 91) {
        depth++;
      } else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new SyntaxError('unterminated JSON structure');
  }
  // number, true, false, null: runs until a delimiter
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    j++;
  }
  return j;
}

function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const d = s.charCodeAt(j);
    if (d === 92 /* \ */) j++;
    else if (d === 34) return j + 1;
  }
  throw new SyntaxError('unterminated JSON string');
}

function skipWs(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    i++;
  }
  return i;
}

/** Members of the JSON object whose text starts at `start`: name → raw value text. */
export function objectFragments(s: string, start = 0): Map<string, string> {
  const out = new Map<string, string>();
  let i = skipWs(s, start);
  if (s.charCodeAt(i) !== 123) throw new SyntaxError('expected a JSON object');
  i = skipWs(s, i + 1);
  if (s.charCodeAt(i) === 125) return out;
  while (i < s.length) {
    const nameEnd = skipString(s, i);
    // Names without escapes (every column name but odd ones) need no JSON.parse.
    const plain = s.slice(i + 1, nameEnd - 1);
    const name = plain.includes('\\') ? (JSON.parse(s.slice(i, nameEnd)) as string) : plain;
    i = skipWs(s, nameEnd);
    if (s.charCodeAt(i) !== 58 /* : */) throw new SyntaxError('expected :');
    i = skipWs(s, i + 1);
    const end = skipValue(s, i);
    out.set(name, s.slice(i, end));
    i = skipWs(s, end);
    const c = s.charCodeAt(i);
    if (c === 125) return out;
    if (c !== 44) throw new SyntaxError('expected , or }');
    i = skipWs(s, i + 1);
  }
  throw new SyntaxError('unterminated JSON object');
}

/** Follows a path of member names from the top-level object and returns that member's raw text. */
export function fragmentAt(s: string, path: readonly string[]): string | undefined {
  let text = s;
  for (const name of path) {
    const f = objectFragments(text).get(name);
    if (f === undefined) return undefined;
    text = f;
  }
  return text;
}
