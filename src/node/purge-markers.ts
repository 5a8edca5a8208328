import { pendingRows, rowKey, stampCaptured } from '../engine/index.ts';
import type { WireValue } from '../protocol/index.ts';
import type { NodeContext } from './node-context.ts';
import { writeNodeState } from './node-state.ts';

/** Markers looked at per transaction. */
const PAGE = 1000;

/**
 * Drop this node's delete markers (`_outpost_rows`, `ex = 0`) stamped at or
 * below `purgedHlc`, the newest delete the hub has purged, except markers of
 * rows with local changes not acknowledged yet (a pending delete is pushed
 * with its marker's stamp).
 *
 * Why this is safe: what a node receives comes from the hub's log, which
 * holds only changes the hub accepted against its own stamps; where the node
 * applied its own delete in another order than the hub, the hub restated the
 * row when the delete arrived (`Hub.#apply`), and the node adopts
 * restatements whatever its markers say. Why it is needed: once the hub has
 * purged its marker, an old insert of the row (from a node that was away) is
 * accepted there; a node still holding a marker would refuse it and keep the
 * row deleted. The hub restates such inserts too, so a node that has not yet
 * dropped its marker adopts them as well.
 *
 * Returns how many markers went.
 */
export async function dropPurgedMarkers(ctx: NodeContext, purgedHlc: string): Promise<number> {
  let dropped = 0;
  let after: { table: string; pk: string } | null = null;
  for (;;) {
    const next: { table: string; pk: string } | null = await ctx.db.write(async (tx) => {
      const markers = await tx.listMarkers({ maxHlc: purgedHlc, after, limit: PAGE });
      if (markers.length === 0) return null;
      // Committed app writes are stamped first, so their rows count as pending.
      await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
      const pending = await pendingRows(tx);
      dropped += await tx.deleteMarkers(markers.filter((m) => !pending.has(rowKey(m.table, JSON.parse(m.pk) as WireValue[]))));
      await writeNodeState(tx, { clock: ctx.clock.last });
      const last = markers[markers.length - 1]!;
      return markers.length < PAGE ? null : { table: last.table, pk: last.pk };
    });
    if (!next) return dropped;
    after = next;
  }
}
