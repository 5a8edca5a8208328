/**
 * Fast checks of the messages that carry rows in bulk (pushed changes,
 * snapshot row lines). Validating them with zod costs 5–10 µs per change,
 * more than the hub spends writing it; these hand-written predicates accept
 * only values their zod schema accepts (a property test holds them to that)
 * and anything they do not accept goes through zod, so errors read exactly
 * as before. They may refuse a valid value (zod then accepts it); they never
 * accept an invalid one.
 */
import { changeSchema, pushRequestSchema, snapshotLineSchema, type Change, type PushRequest, type SnapshotLine } from './messages.ts';
import type { WireValue } from './values.ts';

/** The same pattern as `hlc` in messages.ts. */
const HLC = /^\d{15}-[0-9a-f]{8}-.{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DIGITS = /^-?\d{1,40}$/;
const CHANGE_KEYS = new Set(['table', 'pk', 'op', 'hlc', 'cols', 'colHlc', 'deltas', 'origin', 'restate']);
const ROW_KEYS = new Set(['type', 'table', 'values', 'hlc', 'colHlc']);
/** pushRequestSchema's `changes.max`. */
const MAX_CHANGES = 50_000;

function plainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.getPrototypeOf(v) === Object.prototype;
}

function isIdent(k: string): boolean {
  return k.length >= 1 && k.length <= 128 && k !== '__proto__';
}

export function isWireValue(v: unknown): v is WireValue {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (!plainObject(v)) return false;
      const keys = Object.keys(v);
      if (keys.length !== 1) return false;
      const x = v[keys[0]!];
      if (typeof x !== 'string') return false;
      return keys[0] === '$b' ? BASE64.test(x) : keys[0] === '$n' ? DIGITS.test(x) : false;
    }
    default:
      return false;
  }
}

function isValueRecord(v: unknown): boolean {
  if (!plainObject(v)) return false;
  for (const k of Object.keys(v)) if (!isIdent(k) || !isWireValue(v[k])) return false;
  return true;
}

function isHlcRecord(v: unknown, key: (k: string) => boolean): boolean {
  if (!plainObject(v)) return false;
  for (const k of Object.keys(v)) {
    const h = v[k];
    if (!key(k) || typeof h !== 'string' || !HLC.test(h)) return false;
  }
  return true;
}

function isDeltaRecord(v: unknown): boolean {
  if (!plainObject(v)) return false;
  for (const k of Object.keys(v)) if (!isIdent(k) || !Number.isSafeInteger(v[k])) return false;
  return true;
}

/** Whether `changeSchema` accepts `v` as it is (no key it would strip or refuse). */
export function isChange(v: unknown): v is Change {
  if (!plainObject(v)) return false;
  for (const k of Object.keys(v)) if (!CHANGE_KEYS.has(k)) return false;
  const { table, pk, op, hlc, cols, colHlc, deltas, origin, restate } = v;
  if (typeof table !== 'string' || !isIdent(table)) return false;
  if (!Array.isArray(pk) || pk.length < 1 || pk.length > 16 || !pk.every(isWireValue)) return false;
  if (op !== 'I' && op !== 'U' && op !== 'D') return false;
  if (typeof hlc !== 'string' || !HLC.test(hlc)) return false;
  if ('cols' in v && !isValueRecord(cols)) return false;
  if ('colHlc' in v && !isHlcRecord(colHlc, isIdent)) return false;
  if ('deltas' in v && !isDeltaRecord(deltas)) return false;
  if ('origin' in v && typeof origin !== 'string') return false;
  if ('restate' in v && restate !== true) return false;
  return true;
}

/** Whether `snapshotLineSchema` accepts `v` as a row line as it is. */
export function isSnapshotRow(v: unknown): v is Extract<SnapshotLine, { type: 'row' }> {
  if (!plainObject(v) || v.type !== 'row') return false;
  for (const k of Object.keys(v)) if (!ROW_KEYS.has(k)) return false;
  if (typeof v.table !== 'string' || typeof v.hlc !== 'string' || !HLC.test(v.hlc)) return false;
  if (!Array.isArray(v.values) || !v.values.every(isWireValue)) return false;
  if ('colHlc' in v && !isHlcRecord(v.colHlc, (k) => k !== '__proto__')) return false;
  return true;
}

/** `pushRequestSchema.parse`, with the changes checked by `isChange` when they all pass it. */
export function parsePushRequest(body: unknown): PushRequest {
  if (plainObject(body) && Array.isArray(body.changes) && body.changes.length <= MAX_CHANGES && body.changes.every(isChange)) {
    const envelope = pushRequestSchema.parse({ ...body, changes: [] });
    return { ...envelope, changes: body.changes };
  }
  return pushRequestSchema.parse(body);
}

/** `snapshotLineSchema.parse`, with row lines checked by `isSnapshotRow`. */
export function parseSnapshotLine(raw: unknown): SnapshotLine {
  return isSnapshotRow(raw) ? raw : snapshotLineSchema.parse(raw);
}

/** `changeSchema.parse` with the fast check first (for lists of changes parsed one by one). */
export function parseChange(raw: unknown): Change {
  return isChange(raw) ? raw : changeSchema.parse(raw);
}
