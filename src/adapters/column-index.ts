import type { ColumnSchema, TableSchema } from '../protocol/index.ts';

const byTable = new WeakMap<TableSchema, Map<string, ColumnSchema>>();

/** A table's columns by name, built once per schema object (rows are read by the thousand, each column looked up per row). */
export function columnNamed(t: TableSchema, name: string): ColumnSchema | undefined {
  let m = byTable.get(t);
  if (!m) byTable.set(t, (m = new Map(t.columns.map((c) => [c.name, c]))));
  return m.get(name);
}
