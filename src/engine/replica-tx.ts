import type { TableSchema, WireValue } from '../protocol/index.ts';
import type { RowMeta } from './row-meta.ts';

/** A row's values by column name, in wire form. */
export type RowValues = Record<string, WireValue>;

/**
 * What the engine needs of one open write transaction on a replica. The
 * engine knows no SQL: adapters implement this over their own connection.
 */
export interface ReplicaTx {
  /** whether lockRows takes locks: false where writers are serialized anyway (SQLite), so callers need not gather keys for it */
  readonly rowLocks: boolean;
  /**
   * Lock these rows until the transaction ends (SELECT … FOR UPDATE), so a
   * concurrent application write to them either committed before (and its
   * capture row is visible now) or waits until after. A no-op where writers
   * are serialized anyway (SQLite). Keys arrive sorted, to avoid deadlocks.
   */
  lockRows(table: TableSchema, pks: readonly WireValue[][]): Promise<void>;
  getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>>;
  putMeta(table: string, key: string, meta: RowMeta): Promise<void>;
  /** write the stamps of many rows (each key at most once), in as few statements as the database allows */
  putMetas(table: string, entries: readonly (readonly [string, RowMeta])[]): Promise<void>;
  /** current rows by primary key, keyed by pkKey(pk) */
  getRows(table: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>>;
  /** insert the row, or update it in place when its key exists */
  upsertRow(table: TableSchema, values: RowValues): Promise<void>;
  /**
   * upsertRow for many rows with the same columns and distinct keys, in
   * order, in as few statements as the database allows (multi-row INSERTs)
   */
  upsertRows(table: TableSchema, rows: readonly RowValues[]): Promise<void>;
  updateRow(table: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void>;
  deleteRow(table: TableSchema, pk: readonly WireValue[]): Promise<void>;
  /** deleteRow for many rows, in as few statements as the database allows */
  deleteRows(table: TableSchema, pks: readonly (readonly WireValue[])[]): Promise<void>;
}

/** One row the capture triggers wrote. */
export interface CaptureRow {
  /** arrival order: assigned when the trigger fired, so ids of concurrent transactions commit out of order */
  id: number;
  /**
   * stamp order: assigned when the agent stamps the row, to committed rows
   * only, so it never has gaps that fill in later; null until stamped
   */
  seq: number | null;
  table: string;
  /** JSON array of the key values */
  pk: string;
  op: 'I' | 'U' | 'D';
  /** changed columns of an update (names only; counter columns included) */
  cols: string[] | null;
  /**
   * counter columns (`c=<n>` tokens of `cols`): for an update the delta
   * NEW.c − OLD.c of each changed counter column (absent where a NULL was
   * involved: that change is absolute); for an insert the inserted value
   */
  deltas?: Record<string, number>;
  /** wall-clock milliseconds when the trigger fired */
  ts: number;
  hlc: string | null;
}

/** The stamp and stamp order given to one captured row. */
export interface CaptureStamp {
  id: number;
  hlc: string;
  seq: number;
}

/** A replica transaction that can also read and stamp its capture rows. */
export interface CaptureTx extends ReplicaTx {
  /** stamped rows by seq (after/through), or with `unstamped` the rows not stamped yet, by id (after `afterId`) */
  readCapture(opts: { afterSeq?: number; throughSeq?: number; unstamped?: boolean; afterId?: number; limit: number }): Promise<CaptureRow[]>;
  setCaptureStamp(id: number, hlc: string, seq: number): Promise<void>;
  /** setCaptureStamp for many rows at once */
  setCaptureStamps(stamps: readonly CaptureStamp[]): Promise<void>;
  getState(key: string): Promise<string | null>;
  setState(key: string, value: string | null): Promise<void>;
}
