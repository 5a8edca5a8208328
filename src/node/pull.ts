import { lockChangedRows, readPending, receiveStamps, rowKey, stampCaptured } from '../engine/index.ts';
import type { Change, PullResponse } from '../protocol/index.ts';
import type { NodeContext } from './node-context.ts';
import { writeNodeState, type NodeState } from './node-state.ts';
import { applyPulled } from './node-quarantine.ts';

/** How often a page is held back for local edits to its rows before it is applied regardless. */
const MAX_HOLDS = 5;

/**
 * Pull pages after the cursor until the node has caught up with the end of
 * the hub's log as it was at the first page (a busy hub cannot keep one sync
 * going forever; the next sync takes the rest). Each page is applied, and the
 * cursor moved, in one transaction: a crash leaves either the whole page and
 * its cursor or neither.
 *
 * A page that touches a row with a local edit not yet pushed (one made while
 * this sync ran) is held back: `pushFirst` sends the edit, so that if it
 * loses, the hub records it as a conflict instead of this node overwriting
 * it unseen; then the page is fetched again. `withPage`: node state written
 * with every page (a poke's short sync keeps its `lastSyncAt` there).
 */
export async function pullAll(ctx: NodeContext, cursor: number, pushFirst: () => Promise<unknown>, withPage: Partial<NodeState> = {}): Promise<{ pulled: number; cursor: number; quarantined: number }> {
  let pulled = 0;
  let quarantined = 0;
  let holds = 0;
  let target = Number.POSITIVE_INFINITY;
  let next: Promise<PullResponse> | null = null;
  for (;;) {
    const page = await (next ?? ctx.client.pull(cursor, ctx.pageSize));
    next = null;
    // The following page is fetched while this one is applied; it is
    // dropped if this one is held back (it would be fetched again anyway).
    if (page.more && page.cursor < Math.min(target, page.head)) {
      next = ctx.client.pull(page.cursor, ctx.pageSize);
      next.catch(() => {}); // awaited (and its failure thrown) on the next turn, or dropped
    }
    const { applied, quarantined: q } = await applyPage(ctx, page, holds < MAX_HOLDS, withPage);
    quarantined += q;
    if (!applied) {
      next = null;
      holds++;
      await pushFirst();
      continue;
    }
    holds = 0;
    pulled += page.changes.length;
    cursor = page.cursor;
    ctx.progress?.('pull', pulled);
    target = Math.min(target, page.head);
    if (!page.more || cursor >= target) return { pulled, cursor, quarantined };
  }
}

/**
 * Apply one page of the hub's log and move the cursor to `page.cursor`, in
 * one transaction; false (nothing written but the clock) when the page
 * touches a row with a local edit not pushed yet and `mayHold` allows
 * holding it back. Used by pulls and by pages carried in live pokes.
 */
export async function applyPage(ctx: NodeContext, page: { changes: Change[]; cursor: number; clock: string }, mayHold: boolean, withPage: Partial<NodeState> = {}): Promise<{ applied: boolean; quarantined: number }> {
  let quarantined = 0;
  let stamped = 0;
  const applied = await ctx.db.write(async (tx) => {
    // An app write to these rows has either committed (and is stamped and
    // seen as pending below) or waits until this page is applied.
    await lockChangedRows(tx, ctx.catalogue, page.changes);
    // Local edits made before this page was seen are stamped before its stamps are received.
    stamped = await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
    const { rows: pending, deltas } = page.changes.length ? await readPending(tx, ctx.catalogue) : { rows: new Set<string>(), deltas: new Map() };
    if (mayHold && pending.size && page.changes.some((c) => pending.has(rowKey(c.table, c.pk)))) {
      await writeNodeState(tx, { clock: ctx.clock.last });
      return false;
    }
    ctx.clock.receive(page.clock);
    receiveStamps(ctx.clock, page.changes);
    const known = page.changes.filter((c) => ctx.catalogue.has(c.table));
    // The hub's restatements are adopted as they are, except over local
    // changes not pushed yet; what follows one resolves onto it. The page
    // is one batch: each row's net effect, written in foreign-key order.
    // Counter values the hub sends get this node's pending deltas on top (counters.ts);
    // a change this database refuses is quarantined here, the rest applied,
    // and the cursor moves on (node-quarantine.ts).
    quarantined = await applyPulled(tx, ctx.catalogue, known, (c) => c.restate === true && !pending.has(rowKey(c.table, c.pk)), Date.now(), deltas);
    await writeNodeState(tx, { ...withPage, cursor: page.cursor, clock: ctx.clock.last });
    return true;
  }, { refetchable: true });
  // A page and its cursor can be pulled again, so its commit skips the fsync
  // (WriteOptions.refetchable). Stamps of local edits cannot: when this page
  // stamped some, a durable commit follows, which makes the WAL up to it durable.
  if (stamped > 0) await ctx.db.write((tx) => writeNodeState(tx, { clock: ctx.clock.last }));
  return { applied, quarantined };
}
