import type { Change, TableSchema, WireValue } from '../protocol/index.ts';
import { resolveChange } from './resolve.ts';
import type { RowMeta } from './row-meta.ts';
import { rowKey } from './row-key.ts';

/**
 * A pull page made into one batch that applies in one pass, in foreign-key
 * order across rows (`planApply`).
 *
 * A row's last restatement in the page (the hub's whole state of the row)
 * is adopted as it is, except where `mayAdopt` says no (the row has local
 * changes not pushed yet: it then resolves like any change). The row's
 * entries before it are superseded; the ones after it are resolved onto it
 * here, so the row contributes one change to adopt: its state after the
 * page. Applying the restatements in a pass of their own instead would
 * delete a parent (restated) before the deletes of its children that come
 * earlier in the page — refused at once by MariaDB and by PostgreSQL's
 * NOT DEFERRABLE keys.
 */
export function foldRestatements(
  changes: readonly Change[],
  catalogue: ReadonlyMap<string, TableSchema>,
  mayAdopt: (c: Change) => boolean,
): { changes: Change[]; adopt: Set<Change> } {
  const restated = new Map<string, number>();
  const final = new Map<string, number>();
  changes.forEach((c, i) => {
    const k = rowKey(c.table, c.pk);
    if (c.restate && mayAdopt(c)) restated.set(k, i);
    final.set(k, i);
  });
  const out: Change[] = [];
  const adopt = new Set<Change>();
  changes.forEach((c, i) => {
    const k = rowKey(c.table, c.pk);
    const from = restated.get(k);
    if (from === undefined) return void out.push(c);
    // The row's folded state takes the place of its last entry.
    if (i !== final.get(k)) return;
    const policy = catalogue.get(c.table)?.policy ?? 'merge';
    const folded = fold(changes.slice(from).filter((x) => rowKey(x.table, x.pk) === k), policy);
    out.push(folded);
    adopt.add(folded);
  });
  return { changes: out, adopt };
}

/** A restatement followed by the row's later changes, as the one state they leave. */
function fold(seq: readonly Change[], policy: TableSchema['policy']): Change {
  const [first, ...rest] = seq as [Change, ...Change[]];
  let row: Record<string, WireValue> | null = first.op === 'D' ? null : { ...(first.cols ?? {}) };
  let meta: RowMeta = { exists: row !== null, hlc: first.hlc, colHlc: { ...(first.colHlc ?? {}) } };
  for (const c of rest) {
    const r = resolveChange(meta, c, policy);
    if (r.action.kind === 'insert') row = { ...r.action.cols };
    else if (r.action.kind === 'update') row = { ...(row ?? {}), ...r.action.cols };
    else if (r.action.kind === 'delete') row = null;
    if (r.meta) meta = r.meta;
  }
  const base = { table: first.table, pk: first.pk, hlc: meta.hlc, restate: true as const };
  if (!row) return { ...base, op: 'D' };
  const out: Change = { ...base, op: 'I', cols: row };
  if (Object.keys(meta.colHlc).length) out.colHlc = { ...meta.colHlc };
  return out;
}
