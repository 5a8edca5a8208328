/**
 * The SQL an application writes to the OIMS `items` table, per dialect:
 * multi-row upserts for bulk loads and baselines, and the one-row
 * statements of an app's everyday writes.
 */
import type { AppDb, Dialect } from './app-db.ts';
import { ITEM_COLUMNS, type ItemRow } from './data.ts';

export const BATCH_ROWS = 1000;

const COLUMNS = ITEM_COLUMNS.join(', ');
const ROW_PLACEHOLDERS = `(${ITEM_COLUMNS.map(() => '?').join(', ')})`;
const NON_KEY = ITEM_COLUMNS.filter((c) => c !== 'id');

/** `INSERT … VALUES (…), (…) …` of `rows` rows that updates rows already there. */
export function upsertItemsSql(dialect: Dialect, rows: number): string {
  const insert = `INSERT INTO items (${COLUMNS}) VALUES ${Array(rows).fill(ROW_PLACEHOLDERS).join(', ')}`;
  if (dialect === 'mysql') return `${insert} ON DUPLICATE KEY UPDATE ${NON_KEY.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
  return `${insert} ON CONFLICT (id) DO UPDATE SET ${NON_KEY.map((c) => `${c} = excluded.${c}`).join(', ')}`;
}

/** A row's values in column order, as the dialect takes them (MariaDB's DATETIME has no `T…Z`). */
export function itemValues(row: ItemRow | Record<string, unknown>, dialect: Dialect): unknown[] {
  return ITEM_COLUMNS.map((c) => (c === 'updated_at' && dialect === 'mysql' ? mysqlDatetime(String(row[c])) : row[c]));
}

function mysqlDatetime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '');
}

/** Rows in groups of `size`. */
export function* chunks<T>(rows: Iterable<T>, size = BATCH_ROWS): Generator<T[]> {
  let chunk: T[] = [];
  for (const row of rows) {
    chunk.push(row);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

export interface Batch {
  sql: string;
  params: unknown[];
  rows: number;
}

/** One multi-row upsert of a chunk of rows. */
export function upsertBatch(rows: ItemRow[], dialect: Dialect): Batch {
  return { sql: upsertItemsSql(dialect, rows.length), params: rows.flatMap((r) => itemValues(r, dialect)), rows: rows.length };
}

/** Run upserts one after the other, each committed on its own; `onProgress` gets the rows written so far. */
export async function writeBatches(db: AppDb, batches: Iterable<Batch>, onProgress?: (rowsDone: number) => void): Promise<void> {
  let done = 0;
  for (const b of batches) {
    await db.run(b.sql, b.params);
    done += b.rows;
    onProgress?.(done);
  }
}

/** Load rows with 1,000-row upserts, generating each chunk as it goes (for setup, not for timing). */
export function loadItems(db: AppDb, rows: Iterable<ItemRow>, onProgress?: (rowsDone: number) => void): Promise<void> {
  return writeBatches(db, (function* () {
    for (const chunk of chunks(rows)) yield upsertBatch(chunk, db.dialect);
  })(), onProgress);
}

export const insertItemSql = `INSERT INTO items (${COLUMNS}) VALUES ${ROW_PLACEHOLDERS}`;
export const updateQuantitySql = 'UPDATE items SET quantity = ? WHERE id = ?';
export const deleteItemSql = 'DELETE FROM items WHERE id = ?';
export const selectItemSql = `SELECT ${COLUMNS} FROM items WHERE id = ?`;
/** In key order, as a copy job would read a table: the SQLite side then appends instead of inserting at random. */
export const selectItemsSql = `SELECT ${COLUMNS} FROM items ORDER BY id`;

/** The app's own writes: one statement per row, committed `perTransaction` rows at a time. */
export async function insertItems(db: AppDb, rows: ItemRow[], perTransaction: number): Promise<void> {
  await inTransactions(db, rows, perTransaction, (r) => db.run(insertItemSql, itemValues(r, db.dialect)));
}

export async function updateQuantities(db: AppDb, ids: string[], perTransaction: number, quantity: (i: number) => number): Promise<void> {
  let i = 0;
  await inTransactions(db, ids, perTransaction, (id) => db.run(updateQuantitySql, [quantity(i++), id]));
}

export async function deleteItems(db: AppDb, ids: string[], perTransaction: number): Promise<void> {
  await inTransactions(db, ids, perTransaction, (id) => db.run(deleteItemSql, [id]));
}

async function inTransactions<T>(db: AppDb, items: T[], perTransaction: number, write: (item: T) => Promise<void>): Promise<void> {
  for (const chunk of chunks(items, perTransaction)) {
    await db.run('BEGIN');
    for (const item of chunk) await write(item);
    await db.run('COMMIT');
  }
}
