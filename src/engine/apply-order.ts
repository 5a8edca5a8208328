import type { Change, TableSchema } from '../protocol/index.ts';

/**
 * Tables ordered parents first by their foreign keys (self references and
 * cycles are tolerated: the remaining tables keep catalogue order).
 */
export function parentsFirst(tables: readonly TableSchema[]): string[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: string[] = [];
  const visit = (name: string): void => {
    if (done.has(name) || visiting.has(name)) return;
    visiting.add(name);
    for (const fk of byName.get(name)?.foreignKeys ?? []) if (fk.refTable !== name && byName.has(fk.refTable)) visit(fk.refTable);
    visiting.delete(name);
    done.add(name);
    out.push(name);
  };
  for (const t of tables) visit(t.name);
  return out;
}

/**
 * The order in which a batch is applied: inserts and updates parents first,
 * then deletes children first. Changes to one table keep their batch order.
 */
export function planApply(changes: readonly Change[], tables: readonly TableSchema[], isDelete: (c: Change) => boolean = (c) => c.op === 'D'): Change[] {
  const rank = new Map(parentsFirst(tables).map((name, i) => [name, i]));
  const r = (c: Change): number => rank.get(c.table) ?? Number.MAX_SAFE_INTEGER;
  const indexed = changes.map((c, i) => ({ c, i }));
  const upserts = indexed.filter((x) => !isDelete(x.c)).sort((a, b) => r(a.c) - r(b.c) || a.i - b.i);
  const deletes = indexed.filter((x) => isDelete(x.c)).sort((a, b) => r(b.c) - r(a.c) || a.i - b.i);
  return [...upserts, ...deletes].map((x) => x.c);
}
