import { HLC_ZERO, counterColumns, pkKey, type Change, type PushResponse, type WireValue } from '../protocol/index.ts';
import { coalesceRow, lockChangedRows, readMetas, rowKey, type CapturedOp, type CaptureRow, type RowMeta, type RowValues, stampCaptured, type StampedRow, WriteBatch } from '../engine/index.ts';
import type { Tx } from '../adapters/adapter.ts';
import type { NodeContext } from './node-context.ts';
import { writeNodeState } from './node-state.ts';
import { recordHubQuarantine } from './node-quarantine.ts';

export interface PushSummary {
  pushed: number;
  conflicts: number;
  /** the local sequence the hub has now acknowledged */
  acked: number;
  /** changes of the group the hub quarantined */
  quarantined: number;
}

/**
 * Push everything captured so far as one group: stamp the captured rows,
 * fold them into one change per row with the row's current values (read in
 * the same transaction, so the group is a consistent state that never splits
 * a local transaction), send it in pages, and forget the captured rows only
 * once the hub has acknowledged the group.
 */
export async function pushPending(ctx: NodeContext, acked: number): Promise<PushSummary> {
  const group = await ctx.db.write(async (tx) => {
    // The stamps each row has once stamped here, as written (read again below only for rows stamped before).
    const stamped = new Map<string, Map<string, RowMeta>>();
    const keep = async (page: StampedRow[]): Promise<void> => {
      for (const r of page) {
        let byKey = stamped.get(r.table.name);
        if (!byKey) stamped.set(r.table.name, (byKey = new Map()));
        byKey.set(r.key, r.meta);
      }
    };
    await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs, keep);
    // On a server database the app writes while this runs: lock the rows to
    // be sent, then stamp what committed meanwhile, until no more arrives, so
    // the values read below are exactly the stamped ones (never a later app
    // transaction's values under earlier stamps, nor part of one).
    let group = await readGroup(tx, acked);
    const locked = new Set<string>();
    for (let round = 0; round < MAX_LOCK_ROUNDS; round++) {
      const fresh = group.filter((r) => !locked.has(rowKey(r.table, r.pk)));
      if (fresh.length === 0) break;
      await lockChangedRows(tx, ctx.catalogue, fresh);
      for (const r of fresh) locked.add(rowKey(r.table, r.pk));
      if ((await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs, keep)) === 0) break;
      group = await readGroup(tx, acked);
    }
    await writeNodeState(tx, { clock: ctx.clock.last });
    const { maxSeq } = await tx.captureStats();
    if (maxSeq <= acked) return null;
    const byRow = new Map<string, { table: string; pk: WireValue[]; ops: CapturedOp[] }>();
    for (const r of group) {
      const k = rowKey(r.table, r.pk);
      let e = byRow.get(k);
      if (!e) byRow.set(k, (e = { table: r.table, pk: r.pk, ops: [] }));
      e.ops.push(r.deltas ? { op: r.op, cols: r.cols, deltas: r.deltas } : { op: r.op, cols: r.cols });
    }
    const rows = [...byRow.values()].filter((e) => ctx.catalogue.has(e.table)); // others: tables the hub no longer syncs
    const metas = await readMetas(tx, rows, stamped);
    const current = new Map<string, Map<string, RowValues>>();
    for (const name of metas.keys()) current.set(name, await tx.getRows(ctx.catalogue.get(name)!, rows.filter((e) => e.table === name).map((e) => e.pk)));
    const changes: Change[] = [];
    const gone = new WriteBatch(tx);
    for (const e of rows) {
      const table = ctx.catalogue.get(e.table)!;
      const key = pkKey(e.pk);
      const meta = metas.get(table.name)!.get(key);
      if (!meta) throw new Error(`internal: captured row ${e.table} ${key} has no stamps; refusing to push without them`);
      const row = current.get(table.name)!.get(key);
      const c = coalesceRow(table.name, table.columns.map((col) => col.name), e.pk, e.ops, meta, row, table.policy === 'lww', counterColumns(table));
      if (c) changes.push(c);
      else if ((!row || !meta.exists) && e.ops[0]!.op === 'I') {
        // Created and removed here before the hub ever had it: its local
        // tombstone must not beat a row another replica creates under the key.
        gone.putMeta(table.name, key, { exists: false, hlc: HLC_ZERO, colHlc: {} });
      }
    }
    await gone.flush();
    // Remember what is about to be sent: if the reply is lost, the next
    // handshake tells whether the hub committed it.
    await writeNodeState(tx, { pushTo: maxSeq });
    return { to: maxSeq, changes, cursor: Number((await tx.getState('cursor')) ?? 0) };
  });
  if (!group) return { pushed: 0, conflicts: 0, acked, quarantined: 0 };

  const pages = encodePages(group.changes, ctx.pageSize, PAGE_BYTES);
  let conflicts = 0;
  let ack = acked;
  let sent = 0;
  const quarantined: NonNullable<PushResponse['quarantined']> = [];
  for (let page = 0; page < pages.length; page++) {
    const { changes, json } = pages[page]!;
    const res = await ctx.client.push({ from: acked, to: group.to, page, pages: pages.length, cursor: group.cursor, clock: ctx.clock.last, changes }, json, group.changes.length);
    ctx.clock.receive(res.clock);
    sent += changes.length;
    ctx.progress?.('push', sent, group.changes.length);
    // Never forget more than this group: capture rows after it were not sent.
    if (res.duplicate) {
      ack = Math.min(res.ack, group.to);
      break;
    }
    if (!res.staged) {
      ack = Math.min(res.ack, group.to);
      conflicts = res.conflicts;
      quarantined.push(...(res.quarantined ?? []));
    }
  }
  await ctx.db.write(async (tx) => {
    await tx.deleteCaptureThrough(ack);
    // Changes the hub quarantined are acknowledged (never pushed again): kept here as notices for `outpost status`.
    if (quarantined.length) await recordHubQuarantine(tx, ctx.nodeId, quarantined, group.changes, Date.now());
    await writeNodeState(tx, { acked: ack, clock: ctx.clock.last });
  });
  return { pushed: group.changes.length, conflicts, acked: ack, quarantined: quarantined.length };
}

/** How often the push waits for app transactions on the rows it sends before it goes ahead. */
const MAX_LOCK_ROUNDS = 5;

/** Every stamped capture row after `acked`, in stamp order, with its key parsed. */
async function readGroup(tx: Tx, acked: number): Promise<(Omit<CaptureRow, 'pk'> & { pk: WireValue[] })[]> {
  const out: (Omit<CaptureRow, 'pk'> & { pk: WireValue[] })[] = [];
  let after = acked;
  for (;;) {
    const rows = await tx.readCapture({ afterSeq: after, limit: 5000 });
    if (rows.length === 0) return out;
    for (const r of rows) out.push({ ...r, pk: JSON.parse(r.pk) as WireValue[] });
    after = rows[rows.length - 1]!.seq!;
  }
}

/** Page bodies stay well below the hub's default 16 MiB body limit. */
const PAGE_BYTES = 4 * 1024 * 1024;

/** Split changes into pages of at most `count` changes and about `bytes` of JSON (a single larger change gets a page of its own). */
export function splitPages(changes: readonly Change[], count: number, bytes: number): Change[][] {
  return encodePages(changes, count, bytes).map((p) => p.changes);
}

/** `splitPages`, with each change's JSON kept (it is measured anyway, and becomes the request body). */
export function encodePages(changes: readonly Change[], count: number, bytes: number): { changes: Change[]; json: string[] }[] {
  const pages: { changes: Change[]; json: string[] }[] = [];
  let page: { changes: Change[]; json: string[] } = { changes: [], json: [] };
  let size = 0;
  for (const c of changes) {
    const json = JSON.stringify(c);
    const n = Buffer.byteLength(json);
    if (page.changes.length > 0 && (page.changes.length >= count || size + n > bytes)) {
      pages.push(page);
      page = { changes: [], json: [] };
      size = 0;
    }
    page.changes.push(c);
    page.json.push(json);
    size += n;
  }
  if (page.changes.length > 0 || pages.length === 0) pages.push(page);
  return pages;
}
