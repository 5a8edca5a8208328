import { z } from 'zod';

/**
 * A column value on the wire. JSON has no bytes and no integers beyond 2^53,
 * so those travel tagged: {"$b": base64} for bytes, {"$n": "digits"} for
 * integers that a double cannot hold exactly.
 */
export type WireValue = null | boolean | number | string | { $b: string } | { $n: string };

/** A value as adapters read and write it. */
export type DbValue = null | boolean | number | string | bigint | Uint8Array;

export const wireValueSchema: z.ZodType<WireValue> = z.union([
  z.null(),
  z.boolean(),
  z.number().refine(Number.isFinite, 'numbers must be finite'),
  z.string(),
  z.object({ $b: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/) }).strict(),
  z.object({ $n: z.string().regex(/^-?\d{1,40}$/) }).strict(),
]);

export function toWire(v: DbValue | undefined): WireValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $n: v.toString() };
  }
  if (v instanceof Uint8Array) return { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  return v;
}

export function fromWire(v: WireValue): DbValue {
  if (v === null || typeof v !== 'object') return v;
  if ('$b' in v) return Buffer.from(v.$b, 'base64');
  return BigInt(v.$n);
}

/** A canonical text form of a primary key, used as the key of bookkeeping rows. */
export function pkKey(pk: readonly WireValue[]): string {
  return JSON.stringify(pk);
}

/**
 * Keys that name an object's prototype machinery. A record key from a
 * request (a column of `cols`, `colHlc`, `deltas`, an admin's `set`, a
 * query parameter) is never one of them, and no synced table or column may
 * be named so, so such a key can never reach an object used as a map.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isReservedKey(k: string): boolean {
  return RESERVED_KEYS.has(k);
}
