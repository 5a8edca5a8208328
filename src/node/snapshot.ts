import { HLC_ZERO, OutpostError, parseSnapshotLine, pkKey, type Change, type SnapshotHeader, type TableSchema } from '../protocol/index.ts';
import { lockChangedRows, parentsBeforeChildren, pendingRows, readPending, receiveStamps, rowKey, stampCaptured, WriteBatch } from '../engine/index.ts';
import type { Tx } from '../adapters/adapter.ts';
import type { NodeContext } from './node-context.ts';
import { applyPulled } from './node-quarantine.ts';
import { writeNodeState } from './node-state.ts';

/**
 * Take the hub's snapshot and apply it in pages. Rows arrive as inserts with
 * their stamps and merge with anything already here by those stamps (rows the
 * lab had before joining were pushed before the snapshot, so the hub has
 * already settled them, and logged any that lost). When an
 * earlier snapshot broke off, rows it left that are not local changes are
 * cleared first, so a row deleted at the hub meanwhile cannot linger.
 */
export async function takeSnapshot(ctx: NodeContext, retry: boolean): Promise<SnapshotResult> {
  return streamSnapshot(ctx, { clear: retry, state: 'partial' });
}

export interface SnapshotResult {
  rows: number;
  cursor: number;
  header: SnapshotHeader;
}

/**
 * A fresh snapshot over a node that has all its data (the hub purged log
 * entries past its cursor, so it cannot catch up by pulling). The lab's rows
 * stay in place while it runs: each row the hub sends is adopted as it is,
 * values and stamps (merged by stamps instead where the row has local changes
 * not pushed yet); afterwards, rows the hub did not send, which it deleted
 * while this node was away, are deleted here page by page, except rows with
 * pending local changes. The keys sent are kept in memory meanwhile. The
 * node's snapshot state stays 'refresh' until the end, so a crash or a broken
 * stream starts it again at the next sync; every step is idempotent.
 */
export async function refreshSnapshot(ctx: NodeContext): Promise<SnapshotResult> {
  const seen = new Map<string, Set<string>>();
  const r = await streamSnapshot(ctx, { clear: false, state: 'refresh', seen });
  await removeUnseen(ctx, r.header.tables.filter((t) => t.direction !== 'up'), seen);
  return r;
}

async function streamSnapshot(ctx: NodeContext, o: { clear: boolean; state: 'partial' | 'refresh'; seen?: Map<string, Set<string>> }): Promise<SnapshotResult> {
  const retry = o.clear;
  let header: SnapshotHeader | null = null;
  let page: Change[] = [];
  let rows = 0;
  let ended = false;
  // Rows of self-referencing tables whose parent has not arrived yet, where
  // the database cannot turn foreign key checks off for the snapshot.
  let waiting: Change[] = [];
  const flush = async (last = false): Promise<void> => {
    if (page.length === 0 && !(last && waiting.length)) return;
    let batch = page;
    page = [];
    let stamped = 0;
    // The snapshot is consistent as a whole, not page by page (foreign keys
    // unchecked). A page can be fetched again, so its commit skips the fsync,
    // as a pulled page's does (WriteOptions.refetchable): a power cut undoes
    // it together with the pages after it, the snapshot state is left as it
    // was before them, and the snapshot is taken again; the durable commit
    // that ends the snapshot (agent.ts) makes every page durable. Stamps of
    // local edits cannot be fetched again: a page that stamped some is
    // followed by a durable commit.
    await ctx.db.write(async (tx) => {
      // An app write to these rows has committed (and is stamped next, so it
      // merges with the snapshot's row by stamps) or waits for this page.
      await lockChangedRows(tx, ctx.catalogue, batch);
      stamped = await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
      receiveStamps(ctx.clock, batch);
      if (!ctx.db.caps.foreignKeyChecksOff) {
        const ordered = await parentsBeforeChildren(tx, ctx.catalogue, [...waiting, ...batch]);
        // At the end nothing more can arrive: what still waits is applied, and refused if its parent is missing.
        batch = last ? [...ordered.ready, ...ordered.waiting] : ordered.ready;
        waiting = last ? [] : ordered.waiting;
      }
      // Counter values of the snapshot get this node's pending deltas on top (counters.ts);
      // a row this database refuses (a local unique index, say) is quarantined here, the rest applied (node-quarantine.ts).
      const pending = await readPending(tx, ctx.catalogue);
      if (o.seen) {
        // A refresh adopts the hub's rows as they are, except over local changes not pushed yet.
        await applyPulled(tx, ctx.catalogue, batch, (c) => !pending.rows.has(rowKey(c.table, c.pk)), Date.now(), pending.deltas);
      } else {
        await applyPulled(tx, ctx.catalogue, batch, () => false, Date.now(), pending.deltas);
      }
      await writeNodeState(tx, { snapshot: o.state, clock: ctx.clock.last });
    }, { checkForeignKeys: false, refetchable: true });
    if (stamped > 0) await ctx.db.write((tx) => writeNodeState(tx, { clock: ctx.clock.last }));
    ctx.progress?.('snapshot', rows);
  };
  // Synchronous for a row that only joins the page: a promise per row costs more than the rest of its handling here.
  await ctx.client.snapshot((raw): Promise<void> | undefined => {
    const line = parseSnapshotLine(raw);
    if (line.type === 'header') {
      header = line;
      for (const t of line.tables) ctx.catalogue.set(t.name, t);
      if (retry) return ctx.db.write((tx) => clearUnpending(ctx, tx, line.tables.filter((t) => t.direction !== 'up')), { checkForeignKeys: false });
      return undefined;
    }
    if (!header) throw new OutpostError('HUB_ERROR', 'the snapshot did not start with a header');
    if (line.type === 'end') {
      if (line.rows !== rows) throw new OutpostError('HUB_UNREACHABLE', `the snapshot stream lost rows (${rows} of ${line.rows} arrived); it will be taken again`);
      ended = true;
      return undefined;
    }
    const table = ctx.catalogue.get(line.table);
    if (!table) throw new OutpostError('HUB_ERROR', `the snapshot sent rows of an unknown table ${line.table}`);
    const cols = Object.fromEntries(table.columns.map((c, i) => [c.name, line.values[i] ?? null]));
    const change: Change = { table: table.name, pk: table.primaryKey.map((k) => cols[k]!), op: 'I', hlc: line.hlc, cols };
    if (line.colHlc) change.colHlc = line.colHlc;
    if (o.seen) {
      let keys = o.seen.get(table.name);
      if (!keys) o.seen.set(table.name, (keys = new Set()));
      keys.add(pkKey(change.pk));
    }
    page.push(change);
    rows++;
    return page.length >= ctx.pageSize ? flush() : undefined;
  });
  if (!header || !ended) throw new OutpostError('HUB_UNREACHABLE', 'the snapshot stream ended early; it will be taken again');
  await flush(true);
  const h: SnapshotHeader = header;
  ctx.clock.receive(h.clock);
  return { rows, cursor: h.cursor, header: h };
}

/** Below every stamp a replica issues (node ids are never empty), so any snapshot row brings the row back. */
const GONE = HLC_ZERO;

/** After a refresh: delete, page by page, local rows the snapshot did not send and that have no pending local change. */
async function removeUnseen(ctx: NodeContext, tables: TableSchema[], seen: Map<string, Set<string>>): Promise<void> {
  for (const t of [...tables].reverse()) {
    const keys = seen.get(t.name) ?? new Set<string>();
    let after: unknown[] | null = null;
    for (;;) {
      const last = await ctx.db.write(async (tx) => {
        const rows = await tx.scanRows(t, after, 1000);
        if (rows.length === 0) return null;
        const gone = rows.map((r) => t.primaryKey.map((k) => r[k]!)).filter((pk) => !keys.has(pkKey(pk)));
        if (gone.length) {
          // An app write to these rows has committed (stamped now, so pending and kept) or waits.
          await lockChangedRows(tx, ctx.catalogue, gone.map((pk) => ({ table: t.name, pk })));
          await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
          const pending = await pendingRows(tx);
          const batch = new WriteBatch(tx);
          for (const pk of gone) {
            if (pending.has(rowKey(t.name, pk))) continue;
            await batch.delete(t, pk);
            batch.putMeta(t.name, pkKey(pk), { exists: false, hlc: GONE, colHlc: {} });
          }
          await batch.flush();
          await writeNodeState(tx, { clock: ctx.clock.last });
        }
        return rows.length < 1000 ? null : t.primaryKey.map((k) => rows[rows.length - 1]![k]);
      }, { checkForeignKeys: false });
      if (!last) break;
      after = last;
    }
  }
}

async function clearUnpending(ctx: NodeContext, tx: Tx, tables: TableSchema[]): Promise<void> {
  for (const t of [...tables].reverse()) {
    let after: unknown[] | null = null;
    for (;;) {
      const rows = await tx.scanRows(t, after, 1000);
      if (rows.length === 0) break;
      // An app write to these rows has committed (and is stamped now, so it
      // counts as pending and is kept) or waits until they are cleared.
      await lockChangedRows(tx, ctx.catalogue, rows.map((r) => ({ table: t.name, pk: t.primaryKey.map((k) => r[k]!) })));
      await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
      const pending = await pendingRows(tx);
      const batch = new WriteBatch(tx);
      for (const r of rows) {
        const pk = t.primaryKey.map((k) => r[k]!);
        if (pending.has(rowKey(t.name, pk))) continue;
        await batch.delete(t, pk);
        batch.putMeta(t.name, pkKey(pk), { exists: false, hlc: GONE, colHlc: {} });
      }
      await batch.flush();
      after = t.primaryKey.map((k) => rows[rows.length - 1]![k]);
    }
  }
  await writeNodeState(tx, { clock: ctx.clock.last });
}
