import { OutpostError, pkKey, type Change, type HlcClock, type PushResponse, type TableSchema, type WireValue } from '../protocol/index.ts';
import { applyChanges, applyIsolated, lockChangedRows, readPending, rowKey, stampCaptured, type PendingDeltas } from '../engine/index.ts';
import { writeNodeState } from './node-state.ts';
import type { Adapter, QuarantineEntry, Tx } from '../adapters/adapter.ts';
import { quarantineView, type QuarantineView } from '../adapters/quarantine-view.ts';

/** The origin of a pulled change quarantined on a node. */
export const FROM_HUB = 'hub';

/** How often a node tries a quarantined pulled change by itself (once when pulled, then after syncs that pulled something) before only an admin's retry does. */
export const MAX_AUTO_ATTEMPTS = 10;

const OPEN_MAX = 100_000;
const heldMessage = (id: number): string => `held behind quarantined change #${id}`;

/**
 * Record this node's own changes that the hub quarantined (a push reply's
 * `quarantined`), so that `outpost status` here shows them. They are
 * notices: the hub acknowledged the group, so they are not pushed again;
 * an admin retries or discards them at the hub.
 */
export async function recordHubQuarantine(tx: Tx, nodeId: string, notes: NonNullable<PushResponse['quarantined']>, sent: readonly Change[], at: number): Promise<void> {
  const byRow = new Map(sent.map((c) => [rowKey(c.table, c.pk), c]));
  for (const n of notes) {
    const change = byRow.get(rowKey(n.table, n.pk)) ?? { table: n.table, pk: n.pk, op: n.op, hlc: '' };
    await tx.addQuarantine({ origin: nodeId, table: n.table, pk: pkKey(n.pk), op: n.op, change: JSON.stringify(change), code: n.code, message: n.message, hubId: n.id }, at);
  }
}

/** Open entries of pulled changes here (not the hub's notices), first of each row. */
async function localHeads(tx: Tx): Promise<Map<string, QuarantineEntry[]>> {
  const rows = new Map<string, QuarantineEntry[]>();
  for (const e of await tx.listQuarantine({ status: 'open', origin: FROM_HUB, limit: OPEN_MAX })) {
    if (e.hubId !== null) continue;
    const k = rowKey(e.table, JSON.parse(e.pk) as WireValue[]);
    rows.set(k, [...(rows.get(k) ?? []), e]);
  }
  return rows;
}

/**
 * Apply a pulled page (in place of `applyChanges`): a change this
 * database refuses (a local unique index, say) is quarantined here with
 * origin `hub`, the rest applied, and the cursor moves on; a change of a
 * row with an open quarantined change waits behind it (quarantined too).
 * Returns how many changes were quarantined.
 */
export async function applyPulled(tx: Tx, catalogue: ReadonlyMap<string, TableSchema>, changes: readonly Change[], adopt: (c: Change) => boolean, at: number, pending?: PendingDeltas, noneOpen = false): Promise<number> {
  // `noneOpen`: the caller counted no open quarantine in this transaction, so no row has changes waiting.
  const heads = noneOpen ? new Map<string, QuarantineEntry[]>() : await localHeads(tx);
  const held = heads.size ? changes.filter((c) => heads.has(rowKey(c.table, c.pk))) : [];
  const free = held.length ? changes.filter((c) => !heads.has(rowKey(c.table, c.pk))) : changes;
  const { refused } = await applyIsolated(tx, catalogue, free, { order: 'batch', adopt, ...(pending ? { pending } : {}) });
  const keep = (c: Change, message: string): Promise<number> =>
    tx.addQuarantine({ origin: FROM_HUB, table: c.table, pk: pkKey(c.pk), op: c.op, change: JSON.stringify(c), code: 'APPLY_FAILED', message, hubId: null }, at);
  for (const c of held) await keep(c, heldMessage(heads.get(rowKey(c.table, c.pk))![0]!.id));
  const ids = new Map<Change, number>();
  for (const r of refused) ids.set(r.change, await keep(r.change, r.behind ? heldMessage(ids.get(r.behind)!) : r.error!.message));
  return held.length + refused.length;
}

/** What a node's retry needs: its catalogue, and its clock to stamp local edits first (as a pull does). */
export interface NodeRetryContext {
  catalogue: ReadonlyMap<string, TableSchema>;
  clock: HlcClock;
  skewMs: number;
}

/** Try a row's quarantined pulled changes again, together, in a savepoint; returns the refusal, or null when they are applied now. */
async function tryRow(tx: Tx, ctx: NodeRetryContext, entries: readonly QuarantineEntry[], by: string, at: number): Promise<OutpostError | null> {
  const catalogue = ctx.catalogue;
  const changes = entries.map((e) => JSON.parse(e.change) as Change).filter((c) => catalogue.has(c.table));
  await lockChangedRows(tx, catalogue, changes);
  // Local edits of these rows are stamped first, so they resolve against the hub's change instead of being overwritten unseen.
  await stampCaptured(tx, ctx.clock, catalogue, ctx.skewMs);
  await writeNodeState(tx, { clock: ctx.clock.last });
  const pending = await readPending(tx, catalogue);
  try {
    await tx.savepoint(() => applyChanges(tx, catalogue, changes, (c) => c.restate === true && !pending.rows.has(rowKey(c.table, c.pk)), pending.deltas));
  } catch (e) {
    if (!(e instanceof OutpostError && e.code === 'APPLY_FAILED')) throw e;
    await tx.updateQuarantine(entries[0]!.id, { attempts: entries[0]!.attempts + 1, message: e.message });
    return e;
  }
  for (const e of entries) await tx.updateQuarantine(e.id, { status: 'applied', attempts: e.attempts + 1, resolvedAt: at, resolvedBy: by });
  return null;
}

/**
 * After a sync pulled something, try the quarantined pulled changes
 * quarantined before it (`before`) once more (what broke may be gone now: the hub discarded the local row that
 * clashed, say), each row's together, at most MAX_AUTO_ATTEMPTS times in
 * all; then they wait for `outpost quarantine retry`. Every try counts in
 * `attempts` and the last error is kept, so nothing is retried in silence.
 */
export async function retryPulledQuarantine(db: Adapter, ctx: NodeRetryContext, at: number, before: number): Promise<{ applied: number; open: number }> {
  return db.write(async (tx) => {
    let applied = 0;
    let open = 0;
    for (const entries of (await localHeads(tx)).values()) {
      // Not one quarantined in this very sync (it was just tried), nor one tried often enough.
      if (entries[0]!.attempts >= MAX_AUTO_ATTEMPTS || entries[0]!.at >= before) {
        open += entries.length;
        continue;
      }
      if (await tryRow(tx, ctx, entries, 'sync', at)) open += entries.length;
      else applied += entries.length;
    }
    return { applied, open };
  });
}

/** This node's quarantine: pulled changes it refused, and notices of its own changes the hub quarantined. */
export async function listNodeQuarantine(db: Adapter, all: boolean): Promise<QuarantineView[]> {
  return db.read(async (tx) => (await tx.listQuarantine({ status: all ? undefined : 'open', limit: 1000 })).map((e) => quarantineView(e)));
}

async function openEntry(tx: Tx, id: number): Promise<QuarantineEntry> {
  const e = await tx.getQuarantine(id);
  if (!e) throw new OutpostError('NOT_FOUND', `no quarantined change #${id}`);
  if (e.status !== 'open') throw new OutpostError('ALREADY_RESOLVED', `quarantined change #${id} was ${e.status} already${e.resolvedBy ? ` by ${e.resolvedBy}` : ''}`, { id, status: e.status });
  return e;
}

/** The open pulled entries of the entry's row, from it on; refuses an entry held behind an earlier one. */
async function rowFrom(tx: Tx, e: QuarantineEntry): Promise<QuarantineEntry[]> {
  const row = (await localHeads(tx)).get(rowKey(e.table, JSON.parse(e.pk) as WireValue[])) ?? [e];
  if (row[0]!.id < e.id) throw new OutpostError('BAD_REQUEST', `quarantined change #${e.id} is ${heldMessage(row[0]!.id)}: retry or discard #${row[0]!.id} first`, { id: e.id, head: row[0]!.id });
  return row.filter((x) => x.id >= e.id);
}

/**
 * `outpost quarantine retry ID` on a node: apply a quarantined pulled change
 * (with those held behind it) now. The node's own changes quarantined at
 * the hub are retried at the hub, not here.
 */
export async function retryNodeQuarantined(db: Adapter, ctx: NodeRetryContext, id: number, actor: string, at: number): Promise<{ entry: QuarantineView; applied: boolean; error: string | null }> {
  return db.write(async (tx) => {
    const e = await openEntry(tx, id);
    if (e.hubId !== null) throw new OutpostError('BAD_REQUEST', `quarantined change #${id} is this node's own change, quarantined at the hub as #${e.hubId}: retry or discard it there (the hub's \`outpost quarantine\` or admin API)`, { id, hubId: e.hubId });
    const err = await tryRow(tx, ctx, await rowFrom(tx, e), actor, at);
    return { entry: quarantineView((await tx.getQuarantine(id))!), applied: err === null, error: err?.message ?? null };
  });
}

/**
 * `outpost quarantine discard ID` on a node: a pulled change is marked
 * discarded (with those held behind it) and this node keeps its own version
 * of the row (`outpost verify --repair` then takes the hub's); a notice of
 * the node's own change quarantined at the hub is dismissed.
 */
export async function discardNodeQuarantined(db: Adapter, id: number, actor: string, at: number): Promise<{ entry: QuarantineView; alsoDiscarded: number[] }> {
  return db.write(async (tx) => {
    const e = await openEntry(tx, id);
    const row = e.hubId === null ? await rowFrom(tx, e) : [e];
    for (const x of row) await tx.updateQuarantine(x.id, { status: 'discarded', resolvedAt: at, resolvedBy: actor });
    return { entry: quarantineView((await tx.getQuarantine(id))!), alsoDiscarded: row.slice(1).map((x) => x.id) };
  });
}
