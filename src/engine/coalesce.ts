import type { Change, WireValue } from '../protocol/index.ts';
import { columnStamp, type RowMeta } from './row-meta.ts';

/** One row of the capture table, as the triggers wrote it and the stamper stamped it. */
export interface CapturedOp {
  op: 'I' | 'U' | 'D';
  /** changed columns of an update; null for inserts and deletes */
  cols: readonly string[] | null;
}

/**
 * Fold the captured operations of one row since the last push into the one
 * change that brings the hub to the row's current state. Values are the
 * row's current ones, stamps are the row's stamps.
 */
export function coalesceRow(
  table: string,
  columns: readonly string[],
  pk: WireValue[],
  ops: readonly CapturedOp[],
  meta: RowMeta,
  current: Record<string, WireValue> | undefined,
  /** send every column, not only the changed ones (`lww` tables, where a change wins or loses as a whole row) */
  fullRow = false,
): Change | null {
  if (ops.length === 0) return null;
  if (!current || !meta.exists) {
    // Created and removed again since the last push: the hub never had this
    // row from here, so there is nothing to delete there (a delete would hit
    // whatever row the hub has under that key, someone else's).
    if (ops[0]!.op === 'I') return null;
    return { table, pk, op: 'D', hlc: meta.hlc };
  }
  const inserted = ops.some((o) => o.op === 'I' || o.op === 'D');
  // Only the columns the hub's catalogue names travel (a lab may have more).
  const names = (inserted || fullRow ? columns : [...new Set(ops.flatMap((o) => o.cols ?? []))]).filter((c) => c in current && columns.includes(c));
  if (names.length === 0) return null;
  const cols: Record<string, WireValue> = {};
  const stamps: Record<string, string> = {};
  // An insert carries the row's own stamp (what a later delete is compared
  // with); an update carries its newest column stamp.
  let top = inserted ? meta.hlc : '';
  for (const c of names) {
    cols[c] = current[c]!;
    stamps[c] = columnStamp(meta, c);
    if (!inserted && stamps[c]! > top) top = stamps[c]!;
  }
  const colHlc: Record<string, string> = {};
  for (const c of names) if (stamps[c] !== top) colHlc[c] = stamps[c]!;
  const change: Change = { table, pk, op: inserted ? 'I' : 'U', hlc: top, cols };
  if (Object.keys(colHlc).length) change.colHlc = colHlc;
  return change;
}
