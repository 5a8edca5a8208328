import type { TableSchema, WireValue } from '../protocol/index.ts';
import type { RowMeta } from './row-meta.ts';

/** A row's values by column name, in wire form. */
export type RowValues = Record<string, WireValue>;

/**
 * What the engine needs of one open write transaction on a replica. The
 * engine knows no SQL: adapters implement this over their own connection.
 */
export interface ReplicaTx {
  getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>>;
  putMeta(table: string, key: string, meta: RowMeta): Promise<void>;
  /** current rows by primary key, keyed by pkKey(pk) */
  getRows(table: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>>;
  /** insert the row, or update it in place when its key exists */
  upsertRow(table: TableSchema, values: RowValues): Promise<void>;
  updateRow(table: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void>;
  deleteRow(table: TableSchema, pk: readonly WireValue[]): Promise<void>;
}

/** One row the capture triggers wrote. */
export interface CaptureRow {
  seq: number;
  table: string;
  /** JSON array of the key values */
  pk: string;
  op: 'I' | 'U' | 'D';
  /** changed columns of an update */
  cols: string[] | null;
  /** wall-clock milliseconds when the trigger fired */
  ts: number;
  hlc: string | null;
}

/** A replica transaction that can also read and stamp its capture rows. */
export interface CaptureTx extends ReplicaTx {
  readCapture(opts: { afterSeq?: number; throughSeq?: number; unstamped?: boolean; limit: number }): Promise<CaptureRow[]>;
  setCaptureHlc(seq: number, hlc: string): Promise<void>;
}
