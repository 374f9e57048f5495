// Money is handled as integer cents in JavaScript and as numeric text on the wire, so no amount
// ever passes through a binary float sum.

/** Integer cents as a numeric literal, e.g. 1234 → "12.34". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** A numeric's text form with at most two decimals as integer cents, e.g. "12.3" → 1230. */
export function toCents(text: string): number {
  return Math.round(Number(text) * 100);
}
