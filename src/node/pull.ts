import { applyChanges, stampCaptured } from '../engine/index.ts';
import type { NodeContext } from './node-context.ts';
import { writeNodeState } from './node-state.ts';

/**
 * Pull pages after the cursor until the node has caught up with the end of
 * the hub's log as it was at the first page (a busy hub cannot keep one sync
 * going forever; the next sync takes the rest). Each page is
 * applied, and the cursor moved, in one transaction: a crash leaves either
 * the whole page and its cursor or neither.
 */
export async function pullAll(ctx: NodeContext, cursor: number): Promise<{ pulled: number; cursor: number }> {
  let pulled = 0;
  let target = Number.POSITIVE_INFINITY;
  for (;;) {
    const page = await ctx.client.pull(cursor, ctx.pageSize);
    await ctx.db.write(async (tx) => {
      // Local edits made before this page was seen are stamped before its stamps are received.
      await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
      ctx.clock.receive(page.clock);
      for (const c of page.changes) {
        ctx.clock.receive(c.hlc);
        for (const h of Object.values(c.colHlc ?? {})) ctx.clock.receive(h);
      }
      const known = page.changes.filter((c) => ctx.catalogue.has(c.table));
      await applyChanges(tx, ctx.catalogue, known);
      await writeNodeState(tx, { cursor: page.cursor, clock: ctx.clock.last });
    });
    pulled += page.changes.length;
    cursor = page.cursor;
    ctx.progress?.('pull', pulled);
    target = Math.min(target, page.head);
    if (!page.more || cursor >= target) return { pulled, cursor };
  }
}
