/**
 * Deterministic OIMS-like `items` rows of about 350 bytes, the same on every
 * run and machine: a seeded PRNG gives random-looking UUID keys and serials,
 * so compression and index figures are not flattered by sequential keys.
 */

export const ITEM_COLUMNS = ['id', 'lab_id', 'category_id', 'name', 'serial_number', 'quantity', 'unit_price', 'status', 'notes', 'updated_at'] as const;
export type ItemColumn = (typeof ITEM_COLUMNS)[number];
/** One row; `unit_price` is a DECIMAL(10,2) written as an exact string. */
export type ItemRow = Record<ItemColumn, string | number>;

const LABS = ['lab-a', 'lab-b', 'lab-c'] as const;
const CATEGORIES = ['glassware', 'reagents', 'instruments', 'pipettes'] as const;
const NOUNS = ['Erlenmeyer flask', 'Beaker', 'Pipette', 'Burette', 'Centrifuge tube', 'Petri dish', 'Sodium chloride', 'Ethanol 96%', 'Microscope slide', 'Thermometer'] as const;
const WORDS = ['calibrated', 'spare', 'shelf', 'cabinet', 'checked', 'ordered', 'cracked', 'sterile', 'boxed', 'labelled', 'returned', 'borrowed', 'room', 'drawer', 'fridge', 'batch'] as const;

/** mulberry32: a small, fast, well-mixed 32-bit PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rand: () => number, n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rand() * 16)];
  return s;
};

/** Row `i` of the data set with `seed` (the same i and seed always give the same row). */
export function itemRow(i: number, seed = 1): ItemRow {
  const rand = prng(seed * 1_000_003 + i);
  const uuid = `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-${'89ab'[Math.floor(rand() * 4)]}${hex(rand, 3)}-${hex(rand, 12)}`;
  const noun = NOUNS[Math.floor(rand() * NOUNS.length)]!;
  let notes = `${noun} #${i}:`;
  while (notes.length < 100) notes += ' ' + WORDS[Math.floor(rand() * WORDS.length)];
  const ms = Date.UTC(2026, 0, 1) + Math.floor(rand() * 300 * 86_400_000);
  return {
    id: uuid,
    lab_id: LABS[i % LABS.length]!,
    category_id: CATEGORIES[Math.floor(rand() * CATEGORIES.length)]!,
    name: `${noun} ${Math.floor(rand() * 1000)} ml`,
    serial_number: `SN-${hex(rand, 10).toUpperCase()}`,
    quantity: Math.floor(rand() * 500),
    unit_price: (Math.floor(rand() * 100_000) / 100).toFixed(2),
    status: rand() < 0.9 ? 'active' : 'retired',
    notes: notes.slice(0, 100),
    updated_at: new Date(ms).toISOString(),
  };
}

/** Rows [from, from + count) of the data set, generated lazily. */
export function* itemRows(count: number, from = 0, seed = 1): Generator<ItemRow> {
  for (let i = from; i < from + count; i++) yield itemRow(i, seed);
}
