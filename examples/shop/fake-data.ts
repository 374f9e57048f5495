import type { Random } from './random.js';

// Small fixed vocabularies: enough variety for realistic-looking rows. Order matters for determinism.
const FIRST_NAMES = words(
  'Ada Alan Amara Ana Ben Chen Chloe Dara Elena Emil Fatima Felix Grace Hana Hugo Ines Ivan Jonas Kai ' +
    'Lara Leo Lina Marta Mateo Mei Nadia Noah Olga Omar Priya Rafael Sara Sofia Tariq Yuki Zoë',
);
const LAST_NAMES = words(
  "Almeida Becker Novak Chen Dubois Eriksen Fischer García Hansen Ito Jensen Kowalski Lopez Müller Nakamura O'Brien " +
    'Patel Quinn Rossi Silva Tanaka Ueda Varga Weber Xu Yilmaz Zhang Okafor Haddad Nguyen',
);
// city:country (ISO 3166-1 alpha-2); underscores stand for spaces.
const CITIES = words(
  'Amsterdam:NL Berlin:DE Bogotá:CO Cape_Town:ZA Chicago:US Kraków:PL Lisbon:PT Lyon:FR Madrid:ES Melbourne:AU ' +
    'Montréal:CA Nairobi:KE Osaka:JP Oslo:NO Porto:PT São_Paulo:BR Seoul:KR Toronto:CA Vienna:AT Zürich:CH',
).map((entry) => entry.replace(/_/g, ' ').split(':') as [city: string, country: string]);
const STREETS = [
  'Main St',
  'High Street',
  'Rue de la Paix',
  'Hauptstraße',
  'Calle Mayor',
  'Elm Ave',
  'Harbour Rd',
];
const ADJECTIVES = words(
  'Classic Compact Deluxe Eco Ergonomic Heavy-duty Lightweight Modern Rustic Smart Vintage Waterproof',
);
const MATERIALS = words('Bamboo Canvas Ceramic Copper Cotton Glass Leather Linen Oak Steel Wool');
const NOUNS = words('Backpack Bottle Chair Lamp Jacket Kettle Mug Notebook Pan Scarf Speaker Table Watch');
const TAGS = words(
  'new sale bestseller eco gift limited handmade imported outdoor kitchen office travel kids premium',
);
const COLORS = words('black white red navy olive sand teal grey');
const SIZES = words('XS S M L XL');

function words(text: string): string[] {
  return text.split(' ');
}

/** Payment methods the shop accepts. */
export const PAYMENT_METHODS = ['card', 'paypal', 'bank_transfer', 'gift_card'] as const;

// 32 symbols so one 32-bit draw yields six 5-bit letters; vowels repeat to make words pronounceable.
const LETTERS = 'abcdefghijklmnopqrstuvwxyzaeiouy';

/** A person's full name. */
export function fakeName(rng: Random): string {
  return `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
}

/** An email address made unique by embedding `unique` (e.g. the customer id) in it. */
export function fakeEmail(name: string, unique: string, domain: string): string {
  const local = name
    .normalize('NFKD')
    .replace(/[^A-Za-z ]/g, '')
    .toLowerCase()
    .replace(/ +/g, '.');
  return `${local}.${unique}@${domain}`;
}

/** A postal address: street lines, city and ISO 3166 country code. */
export function fakeAddress(rng: Random): { lines: string[]; city: string; country: string } {
  const [city, country] = rng.pick(CITIES);
  const lines = [`${rng.int(1, 240)} ${rng.pick(STREETS)}`];
  if (rng.chance(0.3)) lines.push(`Apt ${rng.int(1, 80)}`);
  return { lines, city, country };
}

/** A product name such as "Rustic Oak Table". */
export function fakeProductName(rng: Random): string {
  return `${rng.pick(ADJECTIVES)} ${rng.pick(MATERIALS)} ${rng.pick(NOUNS)}`;
}

/** One to four distinct tags. */
export function fakeTags(rng: Random): string[] {
  return rng.distinctIndexes(rng.int(1, 4), TAGS.length).map((i) => TAGS[i] as string);
}

/** Product attributes as nested JSON (objects, numbers, booleans, strings). */
export function fakeAttributes(rng: Random): Record<string, unknown> {
  return {
    color: rng.pick(COLORS),
    size: rng.pick(SIZES),
    weight_g: rng.int(50, 25_000),
    fragile: rng.chance(0.2),
    dimensions_cm: { w: rng.int(5, 200), h: rng.int(5, 200), d: rng.int(1, 100) },
  };
}

/** A partial attribute update, merged into the stored attributes with jsonb `||`. */
export function fakeAttributePatch(rng: Random): Record<string, unknown> {
  return rng.chance(0.5) ? { color: rng.pick(COLORS) } : { size: rng.pick(SIZES), on_sale: rng.chance(0.5) };
}

/**
 * A product description of `minBytes`..`maxBytes` ASCII characters. The words are random letter
 * strings, not drawn from a small vocabulary, so pglz/lz4 cannot shrink the value below the
 * 2 KB TOAST threshold and PostgreSQL stores it out of line.
 */
export function fakeDescription(rng: Random, minBytes = 4096, maxBytes = 8192): string {
  const target = rng.int(minBytes, maxBytes);
  const parts: string[] = [];
  let length = 0;
  let sentenceStart = true;
  let bits = 0;
  let available = 0;
  while (length < target) {
    const wordLength = 2 + (rng.uint32() % 8);
    let word = '';
    for (let i = 0; i < wordLength; i++) {
      if (available === 0) {
        bits = rng.uint32();
        available = 6;
      }
      word += LETTERS[bits & 31];
      bits >>>= 5;
      available--;
    }
    if (sentenceStart) word = word[0]!.toUpperCase() + word.slice(1);
    sentenceStart = rng.chance(0.08);
    const piece = sentenceStart ? `${word}. ` : `${word} `;
    parts.push(piece);
    length += piece.length;
  }
  return parts.join('').slice(0, target).trimEnd();
}
