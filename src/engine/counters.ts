import { counterColumns, pkKey, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import { changeColumnStamp, type Conflict, type Resolution, type RowAction } from './resolve.ts';
import { columnStamp, type RowMeta } from './row-meta.ts';
import type { CaptureRow, CaptureTx, ReplicaTx } from './replica-tx.ts';
import { rowKey } from './row-key.ts';

/**
 * Counter columns (`columnPolicies` = `counter`): concurrent changes add up.
 *
 * - An update of a counter travels as a delta (`Change.deltas`), which the
 *   receiver adds to its current value. Deltas commute, so no stamp
 *   comparison ever drops one; the column's stamp becomes the newer of the
 *   two. A delta for a row that does not exist (or is deleted) is not
 *   applied and becomes an `update-missing` / `update-deleted` conflict
 *   whose lost value is `{"delta": n}`.
 * - An absolute value (an insert, a restatement, a snapshot row) resolves by
 *   stamps like any column where it arrives at the hub. On a node it is the
 *   hub's value at that point of its log, and the node's own deltas not
 *   pushed yet (pending) are added on top, so a local decrement is not lost.
 */

/**
 * Per row (rowKey) the summed deltas of captured updates not yet
 * acknowledged by the hub, per counter column; null where the row's pending
 * change is absolute (an insert or delete among its ops, or a counter write
 * with a NULL), whose values resolve by stamps instead.
 */
export type PendingDeltas = ReadonlyMap<string, Readonly<Record<string, number>> | null>;

/** The counter lost by a delta that could not be applied, as a conflict records it. */
export interface LostDelta {
  delta: number;
}

/** The rows with captured changes not yet acknowledged, and their pending counter deltas (as `coalesceRow` will push them). */
export async function readPending(tx: CaptureTx, catalogue: ReadonlyMap<string, TableSchema>): Promise<{ rows: Set<string>; deltas: PendingDeltas }> {
  const captured = await tx.readCapture({ limit: Number.MAX_SAFE_INTEGER });
  return { rows: new Set(captured.map((r) => rowKey(r.table, JSON.parse(r.pk) as WireValue[]))), deltas: pendingDeltas(captured, catalogue) };
}

/** `readPending`'s deltas of captured rows (in capture order). */
export function pendingDeltas(captured: readonly CaptureRow[], catalogue: ReadonlyMap<string, TableSchema>): Map<string, Record<string, number> | null> {
  const out = new Map<string, Record<string, number> | null>();
  for (const r of captured) {
    const table = catalogue.get(r.table);
    if (!table) continue;
    const counters = counterColumns(table);
    if (counters.length === 0) continue;
    const key = rowKey(r.table, JSON.parse(r.pk) as WireValue[]);
    if (out.get(key) === null) continue;
    if (r.op !== 'U') {
      out.set(key, null);
      continue;
    }
    const sums = out.get(key) ?? {};
    let absolute = false;
    for (const c of r.cols ?? []) {
      if (!counters.includes(c)) continue;
      const d = r.deltas?.[c];
      if (d === undefined) absolute = true;
      else sums[c] = (sums[c] ?? 0) + d;
    }
    out.set(key, absolute ? null : sums);
  }
  return out;
}

/** A counter value plus a delta, exact beyond 2^53 (a NULL counts as 0). */
export function addToCounter(v: WireValue | undefined, delta: number): WireValue {
  let n: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (v !== null && typeof v === 'object' && '$n' in v) n = BigInt(v.$n);
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = BigInt(v);
  else n = 0n;
  const sum = n + BigInt(delta);
  return sum >= BigInt(Number.MIN_SAFE_INTEGER) && sum <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sum) : { $n: sum.toString() };
}

/** The change without its deltas (what `resolveChange` decides), or the change itself when it has none. */
export function withoutDeltas(change: Change): Change {
  if (!change.deltas) return change;
  const { deltas: _, colHlc, ...rest } = change;
  const base: Change = { ...rest, cols: change.cols ?? {} };
  const kept = Object.entries(colHlc ?? {}).filter(([c]) => c in base.cols!);
  if (kept.length) base.colHlc = Object.fromEntries(kept);
  return base;
}

/**
 * The counter part of applying one batch: the rows' current counter values
 * (read once, then kept current as the batch's changes are resolved), the
 * deltas added to them, and on a node the pending local deltas added to the
 * hub's absolute values.
 */
export class CounterApplier {
  readonly #values = new Map<string, Record<string, WireValue>>();
  readonly #pending: PendingDeltas | undefined;

  private constructor(pending: PendingDeltas | undefined) {
    this.#pending = pending;
  }

  /** null when no table of the batch has counter columns */
  static async load(tx: ReplicaTx, catalogue: ReadonlyMap<string, TableSchema>, changes: readonly Change[], pending?: PendingDeltas): Promise<CounterApplier | null> {
    const byTable = new Map<string, Map<string, WireValue[]>>();
    let any = false;
    for (const c of changes) {
      const table = catalogue.get(c.table);
      if (!table || counterColumns(table).length === 0) continue;
      any = true;
      if (!c.deltas) continue;
      let keys = byTable.get(table.name);
      if (!keys) byTable.set(table.name, (keys = new Map()));
      keys.set(pkKey(c.pk), c.pk);
    }
    if (!any) return null;
    const applier = new CounterApplier(pending);
    for (const [name, keys] of byTable) {
      const table = catalogue.get(name)!;
      const counters = counterColumns(table);
      const rows = await tx.getRows(table, [...keys.values()]);
      for (const [key, row] of rows) applier.#values.set(`${name}\u0000${key}`, Object.fromEntries(counters.map((c) => [c, row[c] ?? null])));
    }
    return applier;
  }

  /**
   * Complete the resolution of a change's other columns (`resolveChange` of
   * `withoutDeltas(change)`) with its counter columns. `before` is the row's
   * stamps before the change.
   */
  resolve(table: TableSchema, change: Change, r: Resolution, before: RowMeta | undefined): Resolution {
    const counters = counterColumns(table);
    if (counters.length === 0) return r;
    const key = rowKey(table.name, change.pk);
    const meta = r.meta ?? before;
    if (!meta?.exists) {
      if (!change.deltas) return r;
      // The row is gone here (deleted, or never seen): the deltas cannot apply.
      const lost: Conflict[] = Object.entries(change.deltas).map(([c, d]) => ({
        kind: before ? 'update-deleted' : 'update-missing',
        column: c,
        lost: { delta: d },
        lostHlc: changeColumnStamp(change, c),
        winnerHlc: meta?.hlc ?? change.hlc,
        rule: before ? 'delete wins over a concurrent update' : 'the row does not exist here',
      }));
      return { ...r, conflicts: [...r.conflicts, ...lost] };
    }
    const next: RowMeta = { exists: true, hlc: meta.hlc, colHlc: { ...meta.colHlc } };
    const set: Record<string, WireValue> = {};
    const stamp = (c: string, incoming: string): void => {
      const current = columnStamp(next, c);
      if (incoming > current) next.colHlc[c] = incoming;
    };
    // On a node, a counter the hub sends as a value is the hub's value at
    // this point of its log: it holds, whatever the stamps, with this node's
    // pending deltas on top (the hub has not seen them).
    const pending = this.#pending?.get(key);
    if (this.#pending && pending !== null && change.cols) {
      for (const c of counters) {
        if (!(c in change.cols)) continue;
        set[c] = addToCounter(change.cols[c], pending?.[c] ?? 0);
        stamp(c, changeColumnStamp(change, c));
      }
    }
    const values = this.#values.get(key) ?? {};
    // A row the hub brings back (update-wins) has its last values in the action: deltas add to those.
    const revived = !before?.exists && r.action.kind === 'insert' ? r.action.cols : {};
    const applied: Record<string, number> = {};
    for (const [c, d] of Object.entries(change.deltas ?? {})) {
      set[c] = addToCounter(c in set ? set[c] : (values[c] ?? revived[c]), d);
      applied[c] = d;
      stamp(c, changeColumnStamp(change, c));
    }
    const names = Object.keys(set);
    if (names.length === 0) return r;
    for (const [c, h] of Object.entries(next.colHlc)) if (h === next.hlc) delete next.colHlc[c];
    const action: RowAction = r.action.kind === 'none' || r.action.kind === 'delete' ? { kind: 'update', cols: set } : { kind: r.action.kind, cols: { ...r.action.cols, ...set } };
    // The counter columns a node took from the hub are not its losses.
    const conflicts = r.conflicts.filter((x) => !(x.column !== null && x.column in set && (x.kind === 'column' || x.kind === 'row')));
    const accepted = Object.keys(applied).length ? withAcceptedDeltas(r.accepted, change, applied) : r.accepted;
    return { action, meta: next, accepted, conflicts };
  }

  /** Keep the counter values a row's action writes, for the batch's later deltas. */
  track(table: TableSchema, pk: readonly WireValue[], action: { kind: string; cols?: Record<string, WireValue> } | null): void {
    if (!action || action.kind === 'none') return;
    const key = rowKey(table.name, pk);
    if (action.kind === 'delete') {
      this.#values.delete(key);
      return;
    }
    const cols = action.cols ?? {};
    const counters = counterColumns(table).filter((c) => c in cols);
    if (counters.length === 0) return;
    const values = this.#values.get(key) ?? {};
    for (const c of counters) values[c] = cols[c]!;
    this.#values.set(key, values);
  }
}

/** The accepted part of a change with the deltas that were applied, stamps recomputed (newest as `hlc`, others in `colHlc`). */
function withAcceptedDeltas(accepted: Change | null, change: Change, deltas: Record<string, number>): Change {
  const stamps: Record<string, string> = {};
  for (const c of Object.keys(accepted?.cols ?? {})) stamps[c] = changeColumnStamp(accepted!, c);
  for (const c of Object.keys(deltas)) stamps[c] = changeColumnStamp(change, c);
  const top = Object.values(stamps).reduce((h, s) => (s > h ? s : h), accepted?.hlc ?? '');
  const out: Change = { table: change.table, pk: change.pk, op: accepted?.op ?? 'U', hlc: top };
  if (accepted?.cols && Object.keys(accepted.cols).length) out.cols = accepted.cols;
  out.deltas = deltas;
  const colHlc = Object.fromEntries(Object.entries(stamps).filter(([, s]) => s !== top));
  if (Object.keys(colHlc).length) out.colHlc = colHlc;
  return out;
}

/**
 * The counter part of a captured write as the hub logs it (a website write):
 * an update's counter columns go as their captured deltas (left out when
 * unchanged, as on `lww` tables, which log every column); an insert carries
 * each counter's inserted value as captured, not the row's value now, which
 * may already hold later updates that are logged as deltas of their own. A
 * counter write without a delta (a NULL on either side) keeps its value.
 */
export function capturedCounters(table: TableSchema, row: Pick<CaptureRow, 'op' | 'cols' | 'deltas'>, values: Record<string, WireValue>): { cols: Record<string, WireValue>; deltas?: Record<string, number> } {
  const counters = counterColumns(table);
  if (counters.length === 0) return { cols: values };
  const cols = { ...values };
  const deltas: Record<string, number> = {};
  for (const c of counters) {
    if (!(c in cols)) continue;
    const d = row.deltas?.[c];
    if (row.op === 'I') {
      if (d !== undefined) cols[c] = d;
    } else if (!row.cols?.includes(c)) {
      delete cols[c];
    } else if (d !== undefined) {
      delete cols[c];
      deltas[c] = d;
    }
  }
  return Object.keys(deltas).length ? { cols, deltas } : { cols };
}
