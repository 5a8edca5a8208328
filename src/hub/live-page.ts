import type { Change, TableSchema } from '../protocol/index.ts';
import type { CommitNotice } from './commit-notice.ts';
import type { LiveNode } from './live.ts';

/**
 * A commit's changes as one live node would pull them, to carry in its poke
 * (docs/live.md, "Pages in pokes"): the commit's log entries without the
 * node's own and without `up` tables, exactly as `Hub.pull` filters them.
 * Null where a pull would read more than the entries themselves, or where the
 * hub cannot be sure what the node may see: the node then pulls as before.
 *
 * Scoped hubs send no pages at all. A scoped pull projects entries through
 * the node's attributes (a row entering its scope is sent whole, from the
 * database) and checks the node's scope generation; a live socket keeps the
 * attributes it opened with, so a page could follow a scope the node no
 * longer has. Pokes stay scoped (scope-poke.ts); the pull decides.
 */
export function pageFor(notice: CommitNotice, node: LiveNode, catalogue: ReadonlyMap<string, TableSchema>, scoped: boolean): Change[] | null {
  if (!notice.page || scoped) return null;
  const out: Change[] = [];
  for (const e of notice.page.entries) {
    if (e.origin === node.id) continue;
    const table = catalogue.get(e.change.table);
    // A table the catalogue does not know (a refresh in another process): let the pull sort it out.
    if (!table) return null;
    if (table.direction === 'up') continue;
    if (e.scope !== undefined) return null;
    out.push(e.change);
  }
  return out;
}
