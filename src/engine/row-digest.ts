import { createHash } from 'node:crypto';
import { pkKey, type TableSchema, type WireValue } from '../protocol/index.ts';
import type { RowValues } from './replica-tx.ts';

/**
 * Digests for `outpost verify`, the same on the hub and on a node whatever
 * their dialects. Rows are bucketed by a hash of their canonical key (never
 * by key ranges: text keys sort differently under each database's
 * collation, so a range [a, b) holds different rows on each side), and each
 * bucket is summarised by its row count and the XOR of its rows' digests,
 * which does not depend on the order rows are read in.
 */

/** Bytes of a row digest (hex on the wire: twice as many characters). */
export const DIGEST_BYTES = 16;
/** The XOR of no digests. */
export const EMPTY_DIGEST = '0'.repeat(DIGEST_BYTES * 2);

/** The bucket of a row: the first 4 bytes of sha256 of its canonical key, modulo the bucket count. */
export function keyBucket(key: string, buckets: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % buckets;
}

/** The key of a row in canonical form (`pkKey` of its key values). */
export function rowPkKey(table: TableSchema, row: RowValues): string {
  return pkKey(rowPk(table, row));
}

export function rowPk(table: TableSchema, row: RowValues): WireValue[] {
  return table.primaryKey.map((k) => row[k] ?? null);
}

/**
 * sha256 of the row's canonical wire values in the catalogue's column order
 * (columns a replica has beyond the catalogue's are not compared), first
 * DIGEST_BYTES bytes, as hex.
 */
export function rowDigest(table: TableSchema, row: RowValues): string {
  const values = table.columns.map((c) => row[c.name] ?? null);
  return createHash('sha256').update(JSON.stringify(values)).digest().subarray(0, DIGEST_BYTES).toString('hex');
}

/** The columns whose canonical values differ between two versions of a row. */
export function differingColumns(table: TableSchema, a: RowValues, b: RowValues): string[] {
  return table.columns.filter((c) => JSON.stringify(a[c.name] ?? null) !== JSON.stringify(b[c.name] ?? null)).map((c) => c.name);
}

/** Per-bucket row counts and digest XORs, filled a row at a time. */
export class BucketSums {
  readonly counts: number[];
  readonly #xor: Buffer[];

  constructor(readonly buckets: number) {
    this.counts = new Array<number>(buckets).fill(0);
    this.#xor = Array.from({ length: buckets }, () => Buffer.alloc(DIGEST_BYTES));
  }

  add(bucket: number, digest: string): void {
    this.counts[bucket]!++;
    const acc = this.#xor[bucket]!;
    const d = Buffer.from(digest, 'hex');
    for (let i = 0; i < DIGEST_BYTES; i++) acc[i]! ^= d[i]!;
  }

  get rows(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** `[count, xor hex]` per bucket, as the hub sends them. */
  toWire(): [number, string][] {
    return this.counts.map((n, i) => [n, this.#xor[i]!.toString('hex')]);
  }
}

/** What scanning needs of a transaction: the adapter's keyset-paged table scan. */
/** Which rows count (a node's read scope, on the hub); the others are as if absent. */
export type RowFilter = (row: RowValues) => boolean;

export interface TableScanner {
  scanRows(table: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]>;
}

/** Every row of a table, a page at a time, in the database's own key order (which differs per dialect; nothing here relies on it). */
export async function scanTable(tx: TableScanner, table: TableSchema, each: (rows: RowValues[]) => void | Promise<void>, pageSize = 1000): Promise<void> {
  let after: unknown[] | null = null;
  for (;;) {
    const page = await tx.scanRows(table, after, pageSize);
    if (page.length) await each(page);
    if (page.length < pageSize) return;
    after = table.primaryKey.map((k) => page[page.length - 1]![k]);
  }
}

/** Bucket sums of a whole table. */
export async function tableSums(tx: TableScanner, table: TableSchema, buckets: number, progress?: (rows: number) => void, keep?: RowFilter | null): Promise<BucketSums> {
  const sums = new BucketSums(buckets);
  await scanTable(tx, table, (rows) => {
    for (const r of rows) if (!keep || keep(r)) sums.add(keyBucket(rowPkKey(table, r), buckets), rowDigest(table, r));
    progress?.(sums.rows);
  });
  return sums;
}

/** Key and digest of every row in the given buckets. */
export async function bucketRows(tx: TableScanner, table: TableSchema, buckets: number, ids: ReadonlySet<number>, keep?: RowFilter | null): Promise<{ pk: WireValue[]; digest: string }[]> {
  const out: { pk: WireValue[]; digest: string }[] = [];
  await scanTable(tx, table, (rows) => {
    for (const r of rows) {
      if (keep && !keep(r)) continue;
      const pk = rowPk(table, r);
      if (ids.has(keyBucket(pkKey(pk), buckets))) out.push({ pk, digest: rowDigest(table, r) });
    }
  });
  return out;
}
