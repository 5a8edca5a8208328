import type { ColumnSchema, DbValue, WireValue } from '../protocol/index.ts';
import { toWire } from '../protocol/index.ts';

/**
 * The canonical wire form of a column value, the same whatever database it
 * was read from, so that a row read on MariaDB, PostgreSQL or SQLite compares
 * equal and applies unchanged on any of them (docs/adapters.md, "Values"):
 *
 * | kind     | wire form                                                        |
 * |----------|------------------------------------------------------------------|
 * | integer  | number, or {"$n": "digits"} beyond ±2^53                           |
 * | real     | number                                                           |
 * | decimal  | string of digits with exactly `scale` decimals ("12.50")         |
 * | boolean  | true / false                                                     |
 * | date     | "YYYY-MM-DD"                                                     |
 * | datetime | "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds)                   |
 * | text     | string                                                           |
 * | uuid     | lower-case string                                                |
 * | json     | compact JSON text (JSON.stringify of the parsed value)          |
 * | blob     | {"$b": base64}                                                   |
 *
 * SQLite stores what it is given and is read back as stored, except booleans
 * (0/1) and decimals (numbers), which it cannot keep apart from integers
 * and floats, and datetimes, which are read in the ISO form above whenever
 * their text is a date and time ('2026-11-22 10:00:00' is read as
 * '2026-11-22T10:00:00.000Z'; text without an offset is taken as UTC).
 */
export function canonicalValue(col: ColumnSchema, v: DbValue | undefined): WireValue {
  if (v === undefined || v === null) return null;
  switch (col.kind) {
    case 'integer':
      return integerValue(v);
    case 'decimal':
      return decimalValue(v, col.scale);
    case 'boolean':
      return booleanValue(v);
    case 'real':
      return typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : toWire(v);
    case 'datetime':
      return typeof v === 'string' ? (isoDatetime(v) ?? v) : toWire(v);
    default:
      return toWire(v);
  }
}

export function integerValue(v: DbValue): WireValue {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return toWire(BigInt(v));
  return toWire(v);
}

/** A decimal as text with exactly `scale` decimals; numbers (SQLite's REAL) are formatted without float noise. */
export function decimalValue(v: DbValue, scale: number | undefined): WireValue {
  if (typeof v === 'number') {
    if (scale !== undefined && Math.abs(v) < 1e15) return normalizeDecimal(v.toFixed(scale), scale);
    return normalizeDecimal(String(v), scale);
  }
  if (typeof v === 'bigint') return normalizeDecimal(v.toString(), scale);
  if (typeof v === 'string') return /^-?\d+(\.\d+)?$/.test(v.trim()) ? normalizeDecimal(v.trim(), scale) : v;
  return toWire(v);
}

function normalizeDecimal(s: string, scale: number | undefined): string {
  if (/e/i.test(s)) return s;
  let [int = '0', frac = ''] = s.split('.');
  const neg = int.startsWith('-');
  if (neg) int = int.slice(1);
  int = int.replace(/^0+(?=\d)/, '');
  if (scale !== undefined) frac = scale === 0 ? '' : frac.padEnd(scale, '0').slice(0, Math.max(scale, frac.replace(/0+$/, '').length));
  const out = frac ? `${int}.${frac}` : int;
  return neg && /[1-9]/.test(out) ? `-${out}` : out;
}

export function booleanValue(v: DbValue): WireValue {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return v === 0 || v === 0n ? false : v === 1 || v === 1n ? true : toWire(v);
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['1', 't', 'true'].includes(s)) return true;
    if (['0', 'f', 'false'].includes(s)) return false;
  }
  return toWire(v);
}

const DATETIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A datetime text as UTC ISO-8601 with milliseconds. Text without an offset
 * is taken as UTC (how Outpost stores DATETIME). Null if it is not a datetime.
 */
export function isoDatetime(s: string): string | null {
  const m = DATETIME.exec(s.trim());
  if (!m) return null;
  const time = m[2]!.length === 5 ? `${m[2]}:00` : m[2]!;
  const ms = (m[3] ?? '.000').slice(0, 4).padEnd(4, '0');
  let off = (m[4] ?? 'Z').toUpperCase();
  if (/^[+-]\d{2}$/.test(off)) off += ':00';
  else if (/^[+-]\d{4}$/.test(off)) off = `${off.slice(0, 3)}:${off.slice(3)}`;
  const d = new Date(`${m[1]}T${time}${ms}${off}`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** JSON text in compact form; text that is not JSON is returned as it is. */
export function compactJson(v: unknown): string {
  if (typeof v !== 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(JSON.parse(v));
  } catch {
    return v;
  }
}
