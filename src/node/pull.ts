import { lockChangedRows, readPending, receiveStamps, rowKey, stampCaptured } from '../engine/index.ts';
import type { Change, LivePage, PullResponse } from '../protocol/index.ts';
import type { NodeContext } from './node-context.ts';
import { readNodeState, writeNodeState, type NodeState } from './node-state.ts';
import type { Adapter, Tx } from '../adapters/adapter.ts';
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
      // Let the request go out before the apply: SQLite's calls are
      // synchronous, so until the apply ends the event loop would not turn
      // and the hub would not even see it (each page then waited a whole
      // round trip after its apply; 50k-row pull from MariaDB 2.34 -> 1.97 s).
      await new Promise((resolve) => setImmediate(resolve));
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

type Page = { changes: Change[]; cursor: number; clock: string };

/**
 * Apply one pulled page of the hub's log and move the cursor to
 * `page.cursor`, in one transaction; false (nothing written but the clock)
 * when the page touches a row with a local edit not pushed yet and `mayHold`
 * allows holding it back. (Pages carried in live pokes: `applyPokedPages`.)
 */
async function applyPage(ctx: NodeContext, page: Page, mayHold: boolean, withPage: Partial<NodeState> = {}): Promise<{ applied: boolean; quarantined: number }> {
  let r = { applied: false, quarantined: 0, stamped: 0 };
  await ctx.db.write(async (tx) => {
    r = await applyPageIn(tx, ctx, page, mayHold, withPage);
  }, { refetchable: true });
  // A page and its cursor can be pulled again, so its commit skips the fsync
  // (WriteOptions.refetchable). Stamps of local edits cannot: when this page
  // stamped some, a durable commit follows, which makes the WAL up to it durable.
  if (r.stamped > 0) await ctx.db.write((tx) => writeNodeState(tx, { clock: ctx.clock.last }));
  return { applied: r.applied, quarantined: r.quarantined };
}

/**
 * `applyPage` inside an open write transaction; `stamped`: local edits it
 * stamped. What this transaction already saw, holding the write lock, is not
 * read again: `nothingCaptured` (the capture table is empty: nothing to
 * stamp or keep), `noneOpen` (no open quarantine: no row has changes waiting).
 */
async function applyPageIn(tx: Tx, ctx: NodeContext, page: Page, mayHold: boolean, withPage: Partial<NodeState>, seen: { nothingCaptured?: boolean; noneOpen?: boolean } = {}): Promise<{ applied: boolean; quarantined: number; stamped: number }> {
  const nothingCaptured = seen.nothingCaptured === true;
  // An app write to these rows has either committed (and is stamped and
  // seen as pending below) or waits until this page is applied.
  await lockChangedRows(tx, ctx.catalogue, page.changes);
  // Local edits made before this page was seen are stamped before its stamps are received.
  const stamped = nothingCaptured ? 0 : await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
  const { rows: pending, deltas } = page.changes.length && !nothingCaptured ? await readPending(tx, ctx.catalogue) : { rows: new Set<string>(), deltas: new Map() };
  if (mayHold && pending.size && page.changes.some((c) => pending.has(rowKey(c.table, c.pk)))) {
    await writeNodeState(tx, { clock: ctx.clock.last });
    return { applied: false, quarantined: 0, stamped };
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
  const quarantined = await applyPulled(tx, ctx.catalogue, known, (c) => c.restate === true && !pending.has(rowKey(c.table, c.pk)), Date.now(), deltas, seen.noneOpen === true);
  await writeNodeState(tx, { ...withPage, cursor: page.cursor, clock: ctx.clock.last });
  return { applied: true, quarantined, stamped };
}

/** A page a live poke carried: the hub's log after `from` up to `head`, as this node would pull it. */
export type PokedPage = LivePage & { head: number };

/** A poked page touches a row edited here and not pushed yet: its transaction is rolled back, and a full sync pushes first. */
class PageHeldBack extends Error {}

/**
 * The pages live pokes carried, in one transaction that first checks the
 * node may take a poke's short way (nothing captured, snapshot done, schema
 * known; the write lock holds app writes off meanwhile), then applies those
 * that continue its cursor, in order, and counts its open quarantine. Null
 * where the node may not; a page held back for a local edit throws
 * PageHeldBack (the transaction is rolled back, and a full sync follows).
 */
export async function applyPokedPages(db: Adapter, context: (state: NodeState) => NodeContext, pages: readonly PokedPage[], withPage: Partial<NodeState>): Promise<{ ctx: NodeContext; cursor: number; pulled: number; quarantined: number; openQuarantine: number } | null> {
  return db.write(async (tx) => {
    const state = await readNodeState(tx);
    if ((await tx.captureStats()).count > 0 || state.snapshot !== 'done' || !state.schemaVersion) return null;
    const ctx = context(state);
    const open = await tx.countQuarantine('open');
    let cursor = state.cursor;
    let pulled = 0;
    let quarantined = 0;
    for (const p of pages) {
      if (p.head <= cursor) continue;
      if (p.from !== cursor) break; // a gap: a pull fills it
      const r = await applyPageIn(tx, ctx, { changes: p.changes, cursor: p.head, clock: p.clock }, true, withPage, { nothingCaptured: true, noneOpen: open + quarantined === 0 });
      if (!r.applied) throw new PageHeldBack('a poked page touches a row edited here and not pushed yet: a full sync follows');
      cursor = p.head;
      pulled += p.changes.length;
      quarantined += r.quarantined;
    }
    // What was open before, and what these pages added (every change quarantined here is open).
    return { ctx, cursor, pulled, quarantined, openQuarantine: pulled > 0 ? open + quarantined : 0 };
  }, { refetchable: true });
}
