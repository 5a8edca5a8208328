import { createHash } from 'node:crypto';

export function quotePg(ident: string): string {
  return `"${ident.replace(/"/g, '""')}"`;
}

/** A string literal (standard_conforming_strings is on from PostgreSQL 9.1). */
export function pgString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * `_outpost_<table>_<suffix>` within PostgreSQL's 63-byte identifier limit
 * (longer names are silently truncated, and two would collide), shortened
 * with a hash of the table name when needed.
 */
export function outpostName(table: string, suffix: string): string {
  const full = `_outpost_${table}_${suffix}`;
  if (Buffer.byteLength(full) <= 63) return full;
  const hash = createHash('sha256').update(table).digest('hex').slice(0, 8);
  return `_outpost_${table.slice(0, 63 - 9 - 10 - suffix.length)}_${hash}_${suffix}`;
}
