import type { Change, WireValue } from '../protocol/index.ts';
import { columnStamp, type RowMeta } from './row-meta.ts';

/** One row of the capture table, as the triggers wrote it and the stamper stamped it. */
export interface CapturedOp {
  op: 'I' | 'U' | 'D';
  /** changed columns of an update; null for inserts and deletes */
  cols: readonly string[] | null;
  /** an update's counter deltas (CaptureRow.deltas); ignored for inserts */
  deltas?: Readonly<Record<string, number>>;
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
  /** the table's counter columns: an update carries their summed deltas, never their values */
  counters: readonly string[] = [],
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
  const touched = new Set(ops.flatMap((o) => o.cols ?? []));
  // Counter columns of an update travel as the sum of their deltas (even a
  // sum of 0: the column was written, and its stamp moves). A column one of
  // whose writes had no delta (a NULL on either side) travels as its value.
  const deltas: Record<string, number> = {};
  const absolute = new Set<string>();
  if (!inserted) {
    for (const c of counters) {
      if (!touched.has(c) || !(c in current) || !columns.includes(c)) continue;
      let sum = 0;
      for (const o of ops) if (o.cols?.includes(c)) sum = o.deltas?.[c] === undefined ? NaN : sum + o.deltas[c];
      if (Number.isSafeInteger(sum)) deltas[c] = sum;
      else absolute.add(c);
    }
  }
  // Only the columns the hub's catalogue names travel (a lab may have more).
  const names = (inserted || fullRow ? columns : [...touched]).filter(
    (c) => c in current && columns.includes(c) && (inserted || !counters.includes(c) || absolute.has(c)),
  );
  const deltaNames = Object.keys(deltas);
  if (names.length === 0 && deltaNames.length === 0) return null;
  const cols: Record<string, WireValue> = {};
  const stamps: Record<string, string> = {};
  // An insert carries the row's own stamp (what a later delete is compared
  // with); an update carries its newest column stamp.
  let top = inserted ? meta.hlc : '';
  for (const c of [...names, ...deltaNames]) {
    if (!(c in deltas)) cols[c] = current[c]!;
    stamps[c] = columnStamp(meta, c);
    if (!inserted && stamps[c]! > top) top = stamps[c]!;
  }
  const colHlc: Record<string, string> = {};
  for (const c of Object.keys(stamps)) if (stamps[c] !== top) colHlc[c] = stamps[c]!;
  const change: Change = { table, pk, op: inserted ? 'I' : 'U', hlc: top };
  if (names.length) change.cols = cols;
  if (deltaNames.length) change.deltas = deltas;
  if (Object.keys(colHlc).length) change.colHlc = colHlc;
  return change;
}
