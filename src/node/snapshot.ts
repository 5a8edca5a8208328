import { HLC_ZERO, OutpostError, pkKey, snapshotLineSchema, type Change, type SnapshotHeader, type TableSchema } from '../protocol/index.ts';
import { applyChanges, lockChangedRows, parentsBeforeChildren, pendingRows, receiveStamps, rowKey, stampCaptured, WriteBatch } from '../engine/index.ts';
import type { Tx } from '../adapters/adapter.ts';
import type { NodeContext } from './node-context.ts';
import { writeNodeState } from './node-state.ts';

/**
 * Take the hub's snapshot and apply it in pages. Rows arrive as inserts with
 * their stamps and merge with anything already here by those stamps (rows the
 * lab had before joining were pushed before the snapshot, so the hub has
 * already settled them, and logged any that lost). When an
 * earlier snapshot broke off, rows it left that are not local changes are
 * cleared first, so a row deleted at the hub meanwhile cannot linger.
 */
export async function takeSnapshot(ctx: NodeContext, retry: boolean): Promise<{ rows: number; cursor: number; header: SnapshotHeader }> {
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
    await ctx.db.write(async (tx) => {
      // An app write to these rows has committed (and is stamped next, so it
      // merges with the snapshot's row by stamps) or waits for this page.
      await lockChangedRows(tx, ctx.catalogue, batch);
      await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
      receiveStamps(ctx.clock, batch);
      if (!ctx.db.caps.foreignKeyChecksOff) {
        const ordered = await parentsBeforeChildren(tx, ctx.catalogue, [...waiting, ...batch]);
        // At the end nothing more can arrive: what still waits is applied, and refused if its parent is missing.
        batch = last ? [...ordered.ready, ...ordered.waiting] : ordered.ready;
        waiting = last ? [] : ordered.waiting;
      }
      await applyChanges(tx, ctx.catalogue, batch);
      await writeNodeState(tx, { snapshot: 'partial', clock: ctx.clock.last });
    }, { checkForeignKeys: false }); // the snapshot is consistent as a whole, not page by page
    ctx.progress?.('snapshot', rows);
  };
  await ctx.client.snapshot(async (raw) => {
    const line = snapshotLineSchema.parse(raw);
    if (line.type === 'header') {
      header = line;
      for (const t of line.tables) ctx.catalogue.set(t.name, t);
      if (retry) await ctx.db.write((tx) => clearUnpending(ctx, tx, line.tables.filter((t) => t.direction !== 'up')), { checkForeignKeys: false });
      return;
    }
    if (!header) throw new OutpostError('HUB_ERROR', 'the snapshot did not start with a header');
    if (line.type === 'end') {
      if (line.rows !== rows) throw new OutpostError('HUB_UNREACHABLE', `the snapshot stream lost rows (${rows} of ${line.rows} arrived); it will be taken again`);
      ended = true;
      return;
    }
    const table = ctx.catalogue.get(line.table);
    if (!table) throw new OutpostError('HUB_ERROR', `the snapshot sent rows of an unknown table ${line.table}`);
    const cols = Object.fromEntries(table.columns.map((c, i) => [c.name, line.values[i] ?? null]));
    const change: Change = { table: table.name, pk: table.primaryKey.map((k) => cols[k]!), op: 'I', hlc: line.hlc, cols };
    if (line.colHlc) change.colHlc = line.colHlc;
    page.push(change);
    rows++;
    if (page.length >= ctx.pageSize) await flush();
  });
  if (!header || !ended) throw new OutpostError('HUB_UNREACHABLE', 'the snapshot stream ended early; it will be taken again');
  await flush(true);
  const h: SnapshotHeader = header;
  ctx.clock.receive(h.clock);
  return { rows, cursor: h.cursor, header: h };
}

/** Below every stamp a replica issues (node ids are never empty), so any snapshot row brings the row back. */
const GONE = HLC_ZERO;

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
