import { counterColumns, type ColumnSchema, type TableSchema } from '../protocol/index.ts';

/** Columns added to tables both catalogues have; everything else must be unchanged. */
export interface AddedColumns {
  table: TableSchema;
  columns: ColumnSchema[];
}

/**
 * What changed from one catalogue to the next, if it is only nullable
 * columns added at the end of synced tables (a change replicas can take on
 * while running, keeping their pending changes). Returns the reason as text
 * when the change is of any other kind.
 */
export function addedColumns(before: readonly TableSchema[], after: readonly TableSchema[]): AddedColumns[] | string {
  if (before.length !== after.length || before.some((t, i) => t.name !== after[i]!.name)) {
    return `the synced tables changed (${before.map((t) => t.name).join(', ')} → ${after.map((t) => t.name).join(', ')})`;
  }
  const out: AddedColumns[] = [];
  for (let i = 0; i < before.length; i++) {
    const b = before[i]!;
    const a = after[i]!;
    const same = (x: ColumnSchema, y: ColumnSchema): boolean => x.name === y.name && x.kind === y.kind && x.notNull === y.notNull;
    // Of the policies, nodes see only whether a table is lww and which columns are counters.
    const nodeSide = (t: TableSchema): string => JSON.stringify([t.policy === 'lww', counterColumns(t)]);
    if (a.direction !== b.direction || nodeSide(a) !== nodeSide(b) || a.primaryKey.join() !== b.primaryKey.join() || JSON.stringify(a.foreignKeys) !== JSON.stringify(b.foreignKeys)) {
      return `table ${a.name}: its key, foreign keys, direction, lww policy or counter columns changed`;
    }
    const kept = a.columns.slice(0, b.columns.length);
    if (kept.length !== b.columns.length || kept.some((c, j) => !same(c, b.columns[j]!))) {
      return `table ${a.name}: columns were changed, dropped or reordered (only adding nullable columns at the end is picked up while running)`;
    }
    const added = a.columns.slice(b.columns.length);
    const required = added.filter((c) => c.notNull);
    if (required.length) return `table ${a.name}: new column(s) ${required.map((c) => c.name).join(', ')} are NOT NULL; add them as nullable`;
    if (added.length) out.push({ table: a, columns: added });
  }
  return out;
}
