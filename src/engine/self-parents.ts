import type { Change, TableSchema, WireValue } from '../protocol/index.ts';
import type { ReplicaTx } from './replica-tx.ts';
import { rowKey } from './row-key.ts';

/**
 * Order inserts of self-referencing tables (a category with a parent
 * category) so that a row comes after the row it references, for a
 * replica that cannot turn foreign key checks off. A row whose parent is
 * neither in the batch nor already stored waits (`waiting`) for a later
 * batch. Other changes are ready as they are.
 */
export async function parentsBeforeChildren(
  tx: ReplicaTx,
  catalogue: ReadonlyMap<string, TableSchema>,
  changes: readonly Change[],
): Promise<{ ready: Change[]; waiting: Change[] }> {
  const ready: Change[] = [];
  const present = new Set<string>();
  let pending = [...changes];
  for (;;) {
    const next: Change[] = [];
    for (const c of pending) {
      if (await parentsPresent(tx, catalogue.get(c.table), c, present)) {
        ready.push(c);
        present.add(rowKey(c.table, c.pk));
      } else next.push(c);
    }
    if (next.length === 0 || next.length === pending.length) return { ready, waiting: next };
    pending = next;
  }
}

async function parentsPresent(tx: ReplicaTx, table: TableSchema | undefined, c: Change, present: Set<string>): Promise<boolean> {
  if (!table || c.op === 'D') return true;
  for (const fk of table.foreignKeys) {
    if (fk.refTable !== table.name || fk.refColumns.join() !== table.primaryKey.join()) continue;
    const parent = fk.columns.map((col) => (c.cols?.[col] ?? null) as WireValue);
    if (parent.some((v) => v === null)) continue;
    const key = rowKey(table.name, parent);
    if (present.has(key) || key === rowKey(table.name, c.pk)) continue;
    if ((await tx.getRows(table, [parent])).size === 0) return false;
    present.add(key);
  }
  return true;
}
