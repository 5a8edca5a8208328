import type { TableSchema, WireValue } from '../protocol/index.ts';
import type { RowMeta, RowValues } from '../engine/index.ts';
import type { Tx } from './adapter.ts';
import { SqlBookkeeping, type BookkeepingSql } from './bookkeeping.ts';
import type { SqlRunner } from './sql-runner.ts';
import { Savepoints, type SavepointDialect } from './savepoint.ts';

/** A dialect's reads and writes of synced rows and their stamps, inside an open transaction. */
export type RowStore = Pick<Tx, 'rowLocks' | 'lockRows' | 'getMeta' | 'putMetas' | 'getRows' | 'upsertRows' | 'updateRow' | 'deleteRows' | 'scanRows'>;

/** One transaction: the portable bookkeeping over a runner, and a dialect's row store. */
export class RowStoreTx extends SqlBookkeeping implements Tx {
  readonly #rows: RowStore;
  readonly #savepoints: Savepoints | null;
  /** `savepoints`: how this dialect's savepoints surface constraint failures (write transactions; absent in read transactions) */
  constructor(run: SqlRunner, rows: RowStore, sql?: BookkeepingSql, savepoints?: SavepointDialect) {
    super(run, sql);
    this.#rows = rows;
    this.#savepoints = savepoints ? new Savepoints(run, savepoints) : null;
  }
  savepoint<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.#savepoints) return Promise.reject(new Error('internal: savepoint outside a write transaction'));
    return this.#savepoints.run(fn);
  }
  get rowLocks(): boolean {
    return this.#rows.rowLocks;
  }
  lockRows(table: TableSchema, pks: readonly WireValue[][]): Promise<void> {
    return this.#rows.lockRows(table, pks);
  }
  getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>> {
    return this.#rows.getMeta(table, keys);
  }
  putMeta(table: string, key: string, meta: RowMeta): Promise<void> {
    return this.#rows.putMetas(table, [[key, meta]]);
  }
  putMetas(table: string, entries: readonly (readonly [string, RowMeta])[]): Promise<void> {
    return entries.length ? this.#rows.putMetas(table, entries) : Promise.resolve();
  }
  getRows(table: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>> {
    return this.#rows.getRows(table, pks);
  }
  upsertRow(table: TableSchema, values: RowValues): Promise<void> {
    return this.#rows.upsertRows(table, [values]);
  }
  upsertRows(table: TableSchema, rows: readonly RowValues[]): Promise<void> {
    return rows.length ? this.#rows.upsertRows(table, rows) : Promise.resolve();
  }
  updateRow(table: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void> {
    return this.#rows.updateRow(table, pk, values);
  }
  deleteRow(table: TableSchema, pk: readonly WireValue[]): Promise<void> {
    return this.#rows.deleteRows(table, [pk]);
  }
  deleteRows(table: TableSchema, pks: readonly (readonly WireValue[])[]): Promise<void> {
    return pks.length ? this.#rows.deleteRows(table, pks) : Promise.resolve();
  }
  scanRows(table: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]> {
    return this.#rows.scanRows(table, after, limit);
  }
}
