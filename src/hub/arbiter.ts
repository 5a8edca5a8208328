import { OutpostError, pkKey, type Change, type TableSchema } from '../protocol/index.ts';
import { arbitrate, rowKey, type Arbiter, type ConcurrentWrites, type CustomResolver, type RowValues } from '../engine/index.ts';
import type { LogEntry, Tx } from '../adapters/adapter.ts';
import { validatePushedChange } from './validate-change.ts';

/** Log entries read at most to learn what was written concurrently with a push. */
const CONCURRENT_READ_MAX = 20_000;
/** Log entries of one row read at most to rebuild its values. */
const ROW_HISTORY_MAX = 10_000;

export interface PushContext {
  tx: Tx;
  catalogue: ReadonlyMap<string, TableSchema>;
  /** the pushing node */
  origin: string;
  /** the node's pull cursor: log entries after it it had not seen */
  seenTo: number;
  tick: () => string;
  resolvers: ReadonlyMap<string, CustomResolver>;
}

/**
 * What other origins wrote to the pushed rows after the node's cursor, read
 * once for the whole push (null: more than can be read at once, asked per
 * row instead). Also the rows with any entry after the cursor (restatements
 * included), which the node must be told the hub's state of.
 */
export async function writesAfter(ctx: PushContext, changes: readonly Change[]): Promise<{ concurrent: Map<string, ConcurrentWrites>; logged: Set<string> } | null> {
  const tables = [...new Set(changes.map((c) => c.table))];
  const { entries } = await ctx.tx.readLog({ after: ctx.seenTo, limit: CONCURRENT_READ_MAX + 1, excludeOrigin: ctx.origin, tables });
  if (entries.length > CONCURRENT_READ_MAX) return null;
  const concurrent = new Map<string, ConcurrentWrites>();
  const logged = new Set<string>();
  for (const e of entries) {
    const k = rowKey(e.change.table, e.change.pk);
    logged.add(k);
    addWrite(concurrent, k, e);
  }
  return { concurrent, logged };
}

function addWrite(into: Map<string, ConcurrentWrites>, key: string, e: LogEntry): void {
  // A restatement repeats the hub's state; it is no one's write.
  if (e.change.restate || e.change.op === 'D') return;
  let w = into.get(key);
  if (!w) into.set(key, (w = { cols: new Map() }));
  for (const c of [...Object.keys(e.change.cols ?? {}), ...Object.keys(e.change.deltas ?? {})]) w.cols.set(c, e.origin);
}

/**
 * The hub's arbiter for one push: `arbitrate` with what the hub knows of
 * each row — concurrent writes (`known`, or read per row), its current
 * values, its values before a delete and as of the node's cursor (both from
 * the change log, while it has them), the table's resolver.
 */
export function hubArbiter(ctx: PushContext, known: Map<string, ConcurrentWrites> | null, changes: readonly Change[]): Arbiter {
  // The hub's rows, read for a whole table's changes at the first one that needs its row (a conflict).
  const rows = new Map<string, Promise<Map<string, RowValues>>>();
  const hubRow = (table: TableSchema, key: string): Promise<RowValues | undefined> => {
    let all = rows.get(table.name);
    if (!all) rows.set(table.name, (all = ctx.tx.getRows(table, changes.filter((c) => c.table === table.name).map((c) => c.pk))));
    return all.then((m) => m.get(key));
  };
  return async (meta, change, table) => {
    const key = pkKey(change.pk);
    let history: LogEntry[] | null = null;
    const rowHistory = async (): Promise<LogEntry[]> => (history ??= await ctx.tx.readRowLog(table.name, key, { limit: ROW_HISTORY_MAX }));
    let concurrent = known ? known.get(rowKey(table.name, change.pk)) : undefined;
    if (!known && meta) {
      const after = await ctx.tx.readRowLog(table.name, key, { after: ctx.seenTo, limit: ROW_HISTORY_MAX });
      const m = new Map<string, ConcurrentWrites>();
      for (const e of after) if (e.origin !== ctx.origin) addWrite(m, key, e);
      concurrent = m.get(key);
    }
    return arbitrate(meta, change, table, {
      origin: ctx.origin,
      concurrent,
      hubRow: () => hubRow(table, key),
      deletedRow: async () => valuesBeforeDelete(await rowHistory()),
      base: async () => (ctx.seenTo > 0 ? valuesAt(await rowHistory(), ctx.seenTo) : null),
      tick: ctx.tick,
      custom: ctx.resolvers.get(table.name),
      check: (values) => {
        try {
          validatePushedChange({ table: table.name, pk: change.pk, op: 'U', hlc: change.hlc, cols: values }, ctx.catalogue);
          return null;
        } catch (e) {
          return e instanceof OutpostError ? e.message : String(e);
        }
      },
    });
  };
}

/** Fold a row's log entries into its values after each (null: deleted or unknown). */
function fold(entries: readonly LogEntry[], through: number, onDelete?: (before: RowValues | null) => void): RowValues | null {
  let row: RowValues | null = null;
  for (const e of entries) {
    if (e.seq > through) break;
    const c = e.change;
    if (c.op === 'D') {
      onDelete?.(row);
      row = null;
    } else if (c.op === 'I') row = { ...(c.cols ?? {}) };
    else if (row) {
      const next: RowValues = { ...row, ...(c.cols ?? {}) };
      for (const [col, d] of Object.entries(c.deltas ?? {})) {
        const v = next[col];
        if (typeof v === 'number') next[col] = v + d;
      }
      row = next;
    }
  }
  return row;
}

/** The row's values just before its last delete, if the log still holds its whole life since it was inserted. */
export function valuesBeforeDelete(entries: readonly LogEntry[]): RowValues | null {
  let last: RowValues | null = null;
  // A delete restated after the delete finds no row: the values before the real delete stay.
  fold(entries, Number.MAX_SAFE_INTEGER, (before) => (last = before ?? last));
  return last;
}

/** The row's values as of log position `seq`, if the log still holds them. */
export function valuesAt(entries: readonly LogEntry[], seq: number): RowValues | null {
  return fold(entries, seq);
}
