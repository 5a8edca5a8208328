import type { TableSchema, WireValue } from '../protocol/index.ts';
import type { RowMeta, RowValues } from '../engine/index.ts';
import type { Tx } from './adapter.ts';
import { SqlBookkeeping } from './bookkeeping.ts';
import type { SqlRunner } from './sql-runner.ts';

/** A dialect's reads and writes of synced rows and their stamps, inside an open transaction. */
export type RowStore = Pick<Tx, 'lockRows' | 'getMeta' | 'putMeta' | 'getRows' | 'upsertRow' | 'updateRow' | 'deleteRow' | 'scanRows'>;

/** One transaction: the portable bookkeeping over a runner, and a dialect's row store. */
export class RowStoreTx extends SqlBookkeeping implements Tx {
  readonly #rows: RowStore;
  constructor(run: SqlRunner, rows: RowStore) {
    super(run);
    this.#rows = rows;
  }
  lockRows(table: TableSchema, pks: readonly WireValue[][]): Promise<void> {
    return this.#rows.lockRows(table, pks);
  }
  getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>> {
    return this.#rows.getMeta(table, keys);
  }
  putMeta(table: string, key: string, meta: RowMeta): Promise<void> {
    return this.#rows.putMeta(table, key, meta);
  }
  getRows(table: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>> {
    return this.#rows.getRows(table, pks);
  }
  upsertRow(table: TableSchema, values: RowValues): Promise<void> {
    return this.#rows.upsertRow(table, values);
  }
  updateRow(table: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void> {
    return this.#rows.updateRow(table, pk, values);
  }
  deleteRow(table: TableSchema, pk: readonly WireValue[]): Promise<void> {
    return this.#rows.deleteRow(table, pk);
  }
  scanRows(table: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]> {
    return this.#rows.scanRows(table, after, limit);
  }
}
