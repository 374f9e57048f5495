/**
 * Positions and versions.
 *
 * A position is a wal cursor `(commitLsn, commitIdx)`: the commit LSN of the source transaction and
 * the change's index within it. LSNs are `bigint` everywhere. A `version` is the same position
 * encoded as fixed-width lower-case hex (`<16 hex LSN>-<8 hex index>`), so that plain string
 * comparison orders versions exactly as the source committed the changes.
 */

/** A wal cursor: commit LSN of the transaction and the change's index in it. */
export interface Position {
  readonly commitLsn: bigint;
  readonly commitIdx: number;
}

/** Index used for a transaction's commit marker: it sorts after every change of the transaction. */
export const COMMIT_MARKER_IDX = 0xffffffff;

/** Compares two positions as tuples: negative, zero or positive. */
export function comparePositions(a: Position, b: Position): number {
  if (a.commitLsn !== b.commitLsn) return a.commitLsn < b.commitLsn ? -1 : 1;
  return a.commitIdx - b.commitIdx;
}

/** Encodes a position as a version string. */
export function formatVersion(commitLsn: bigint, commitIdx: number): string {
  return commitLsn.toString(16).padStart(16, '0') + '-' + commitIdx.toString(16).padStart(8, '0');
}

const VERSION = /^([0-9a-f]{16})-([0-9a-f]{8})$/;

/** Decodes a version string into a position. */
export function parseVersion(version: string): Position {
  const m = VERSION.exec(version);
  if (!m) throw new TypeError(`"${version}" is not a Sluice version (expected <16 hex>-<8 hex>)`);
  return { commitLsn: BigInt('0x' + m[1]), commitIdx: parseInt(m[2]!, 16) };
}

/** Formats an LSN the way PostgreSQL prints it (`16/B374D848`). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Parses PostgreSQL's `X/Y` LSN text (either padding) into a bigint. */
export function parseLsn(text: string): bigint {
  const slash = text.indexOf('/');
  if (slash < 1) throw new TypeError(`"${text}" is not an LSN (expected X/Y in hex)`);
  return (BigInt('0x' + text.slice(0, slash)) << 32n) | BigInt('0x' + text.slice(slash + 1));
}
