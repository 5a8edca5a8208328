import { pkKey, type Change, type TableSchema } from '../protocol/index.ts';
import type { Tx } from '../adapters/adapter.ts';
import { readStates, type ScopeState } from './scope-log.ts';
import { matches, scopeValues, type NodeAttrs, type Scopes } from './scopes.ts';

export interface ScopeRefusal {
  change: Change;
  message: string;
}

/**
 * Check pushed changes against the node's write scopes, before anything is
 * written. A row may be changed only where it is in the node's write scope
 * before and after the change: an insert's row (and the hub's row of that
 * key, if there is one), an update's row as the hub has it and as the
 * update leaves it, a delete's row. A key the hub has no row of, and never
 * had, cannot be updated. Each change is judged on its own (a later change
 * of a refused row sees the row as the hub has it). Messages name no value
 * of the hub's row.
 */
export async function checkWriteScope(tx: Tx, scopes: Scopes, catalogue: ReadonlyMap<string, TableSchema>, attrs: NodeAttrs, changes: readonly Change[]): Promise<{ allowed: Change[]; refused: ScopeRefusal[] }> {
  const scoped = changes.filter((c) => scopes.get(c.table)?.write);
  if (scoped.length === 0) return { allowed: [...changes], refused: [] };
  const states = await readStates(tx, scopes, scoped, catalogue);
  const allowed: Change[] = [];
  const refused: ScopeRefusal[] = [];
  for (const c of changes) {
    const scope = scopes.get(c.table);
    if (!scope?.write) {
      allowed.push(c);
      continue;
    }
    const rows = states.get(c.table)!;
    const key = pkKey(c.pk);
    const cur: ScopeState | undefined = rows.get(key);
    const ok = (vals: ScopeState['vals'] | undefined) => matches(scope.write, vals, attrs);
    let why: string | null = null;
    let next: ScopeState | undefined = cur;
    if (c.op === 'I') {
      const vals = scopeValues(scope, c.cols ?? {});
      if (!ok(vals)) why = 'the inserted row is outside this node\'s write scope';
      else if (cur?.exists && !ok(cur.vals)) why = 'the key belongs to a row outside this node\'s write scope';
      next = { exists: true, vals };
    } else if (c.op === 'U') {
      const vals = { ...(cur?.vals ?? {}), ...scopeValues(scope, c.cols ?? {}, true) };
      if (!cur || !ok(cur.vals)) why = 'the row is outside this node\'s write scope';
      else if (!ok(vals)) why = 'the update would move the row outside this node\'s write scope';
      next = { exists: cur?.exists ?? false, vals };
    } else {
      if (cur?.exists && !ok(cur.vals)) why = 'the row is outside this node\'s write scope';
      next = { exists: false, vals: cur?.vals ?? {} };
    }
    if (why) {
      refused.push({ change: c, message: `table ${c.table}: ${why}; the change was not applied and is kept in the hub's quarantine` });
    } else {
      rows.set(key, next);
      allowed.push(c);
    }
  }
  return { allowed, refused };
}
