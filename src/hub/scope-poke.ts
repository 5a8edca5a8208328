import type { TableSchema } from '../protocol/index.ts';
import type { PokeFilter } from './live.ts';
import { matches, type Scopes } from './scopes.ts';

/**
 * Whom a commit concerns, with scopes: a live node is poked when the commit
 * logged an entry it will pull — not its own, not of an `up` table, and for
 * a scoped table one whose row was in the node's read scope before or after
 * the change (or one logged for that node alone). The same rule as the pull
 * projection (scope-pull.ts), so a poke never tells a node of activity
 * outside its scope. A notice without entries (the head moved, no more
 * known) pokes everyone.
 */
export function scopedPokeFilter(scopes: Scopes, catalogue: ReadonlyMap<string, TableSchema>): PokeFilter {
  return (notice, node) => {
    if (notice.entries === null) return true;
    return notice.entries.some((e) => {
      if (e.origin === node.id) return false;
      if (e.scope?.t !== undefined) return e.scope.t === node.id;
      if (catalogue.get(e.table)?.direction === 'up') return false;
      const scope = scopes.get(e.table);
      if (!scope?.read) return true;
      if (!e.scope) return false;
      return matches(scope.read, e.scope.b, node.attrs) || matches(scope.read, e.scope.a, node.attrs);
    });
  };
}
