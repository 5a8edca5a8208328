import { OutpostError, formatHlc, pkKey, type Change, type PushResponse, type TableSchema, type WireValue } from '../protocol/index.ts';
import { applyChanges, applyIsolated, lockChangedRows, rowKey, type AppliedChange, type Arbiter } from '../engine/index.ts';
import type { Adapter, QuarantineEntry, QuarantineStatus, Tx } from '../adapters/adapter.ts';
import { quarantineView, type QuarantineView } from '../adapters/quarantine-view.ts';

export { quarantineView, type QuarantineView };

/** One entry of a push response's `quarantined`. */
export type QuarantinedNote = NonNullable<PushResponse['quarantined']>[number];

/** Open entries read at most per push to find rows whose changes must wait behind one. */
const OPEN_MAX = 100_000;

/** The message of a change queued behind an earlier quarantined change of its row. */
export const heldMessage = (id: number): string => `held behind quarantined change #${id}`;

/**
 * The hub's apply of a push group (in place of `applyChanges`): a change
 * the database refuses is quarantined (`_outpost_quarantine`, listed in
 * `quarantined`) and the rest of the group applied; a change of a row that
 * has an open quarantined change from the same node is quarantined behind
 * it without being tried. With `quarantined` null (an admin's retry) the
 * group is applied as it is and a refusal fails it.
 */
export async function applyQuarantining(
  tx: Tx,
  catalogue: ReadonlyMap<string, TableSchema>,
  origin: string,
  changes: readonly Change[],
  at: number,
  quarantined: QuarantinedNote[] | null,
  /** the hub's policies (`hubArbiter`) */
  arbiter?: Arbiter,
): Promise<AppliedChange[]> {
  if (!quarantined) return applyChanges(tx, catalogue, changes, undefined, undefined, arbiter);
  const heads = await openHeads(tx, origin);
  const held = heads.size ? changes.filter((c) => heads.has(rowKey(c.table, c.pk))) : [];
  const free = held.length ? changes.filter((c) => !heads.has(rowKey(c.table, c.pk))) : changes;
  const { results, refused } = await applyIsolated(tx, catalogue, free, { order: 'fk', ...(arbiter ? { arbiter } : {}) });
  const ids = new Map<Change, number>();
  const keep = async (c: Change, message: string): Promise<number> => {
    const id = await tx.addQuarantine({ origin, table: c.table, pk: pkKey(c.pk), op: c.op, change: JSON.stringify(c), code: 'APPLY_FAILED', message, hubId: null }, at);
    quarantined.push({ id, table: c.table, pk: c.pk, op: c.op, code: 'APPLY_FAILED', message });
    return id;
  };
  for (const c of held) await keep(c, heldMessage(heads.get(rowKey(c.table, c.pk))!));
  for (const r of refused) {
    const message = r.behind ? heldMessage(ids.get(r.behind)!) : r.error!.message;
    ids.set(r.change, await keep(r.change, message));
  }
  return results;
}

/**
 * The first open entry of each row with one, from `origin`. Changes outside
 * the node's write scope (OUT_OF_SCOPE) hold nothing back: the hub's row is
 * as it was, and the node was sent it.
 */
async function openHeads(tx: Tx, origin: string): Promise<Map<string, number>> {
  const heads = new Map<string, number>();
  for (const e of await tx.listQuarantine({ status: 'open', origin, limit: OPEN_MAX })) {
    if (e.code === 'OUT_OF_SCOPE') continue;
    const k = rowKey(e.table, JSON.parse(e.pk) as WireValue[]);
    if (!heads.has(k)) heads.set(k, e.id);
  }
  return heads;
}

/** Node names by id, for views. */
export async function nodeNames(tx: Tx): Promise<Map<string, string>> {
  return new Map((await tx.listNodes()).map((n) => [n.id, n.name]));
}

/** The hub's quarantine, read only: every entry (or those of one status), newest last. */
export async function listQuarantine(db: Adapter, status?: QuarantineStatus, limit = 1000): Promise<QuarantineView[]> {
  return db.read(async (tx) => {
    const names = await nodeNames(tx);
    return (await tx.listQuarantine({ status, limit })).map((e) => quarantineView(e, names));
  });
}

export async function showQuarantine(db: Adapter, id: number): Promise<QuarantineView> {
  return db.read(async (tx) => {
    const e = await tx.getQuarantine(id);
    if (!e) throw new OutpostError('NOT_FOUND', `no quarantined change #${id}`);
    return quarantineView(e, await nodeNames(tx));
  });
}

/** What a retry or discard did. */
export interface QuarantineOutcome {
  /** the entry as it is now */
  entry: QuarantineView;
  /** retry: whether the change is applied now */
  applied: boolean;
  /** entries held behind it that were resolved with it (applied by a retry, discarded by a discard) */
  alsoResolved: number[];
  /** retry: the entries that stay open, with their new error */
  stillOpen: number[];
}

/** What the hub offers quarantine.ts to apply a change as a push from its origin would be. */
export interface ApplyAs {
  readonly db: Adapter;
  readonly catalogue: { readonly byName: ReadonlyMap<string, TableSchema> };
  /**
   * resolve, write, log (with that origin), record conflicts and restate as
   * a push from `origin` would; APPLY_FAILED leaves tx as it was
   */
  applyAs(tx: Tx, origin: string, changes: Change[]): Promise<{ applied: number; conflicts: number }>;
  /** sequence website writes not sequenced yet (so a restatement reads values and stamps that agree) */
  sequencePending(): Promise<void>;
  /** append to the change log (with the scope marks of scoped tables) */
  log(tx: Tx, entries: readonly { change: Change; origin: string | null }[]): Promise<void>;
}

/** An open entry and the open entries of its row from the same origin held behind it. */
async function openGroup(tx: Tx, id: number): Promise<{ head: QuarantineEntry; held: QuarantineEntry[] }> {
  const head = await tx.getQuarantine(id);
  if (!head) throw new OutpostError('NOT_FOUND', `no quarantined change #${id}`);
  if (head.status !== 'open') throw new OutpostError('ALREADY_RESOLVED', `quarantined change #${id} was ${head.status} already${head.resolvedBy ? ` by ${head.resolvedBy}` : ''}`, { id, status: head.status });
  // A change outside the node's scope stands alone: it holds nothing back, and nothing waits behind it.
  if (head.code === 'OUT_OF_SCOPE') return { head, held: [] };
  const row = (await tx.listQuarantine({ status: 'open', origin: head.origin, limit: OPEN_MAX })).filter((e) => e.table === head.table && e.pk === head.pk && e.code !== 'OUT_OF_SCOPE');
  const first = row[0];
  if (first && first.id < head.id) {
    throw new OutpostError('BAD_REQUEST', `quarantined change #${id} is ${heldMessage(first.id)}: retry or discard #${first.id} first (its row's changes are applied in order)`, { id, head: first.id });
  }
  return { head, held: row.filter((e) => e.id > head.id) };
}

const changeOf = (e: QuarantineEntry): Change => JSON.parse(e.change) as Change;

/**
 * Retry a quarantined change (and those held behind it) in a new hub write
 * transaction, as a push from its origin would be applied: resolved against
 * the row's current stamps, logged with that origin so other nodes get it.
 * If the database still refuses it, it stays open with the new error and
 * one more attempt. Audited as `quarantine.retry`.
 */
export async function retryQuarantined(hub: ApplyAs, id: number, actor: string, now: number): Promise<QuarantineOutcome> {
  return hub.db.write(async (tx) => {
    // (Hub.applyAs sequences website writes inside this transaction, after the row locks.)
    const { head, held } = await openGroup(tx, id);
    const origin = head.origin;
    await lockChangedRows(tx, hub.catalogue.byName, [head, ...held].map((e) => ({ table: e.table, pk: JSON.parse(e.pk) as WireValue[] })));
    const tryApply = async (entries: QuarantineEntry[]): Promise<OutpostError | null> => {
      try {
        await hub.applyAs(tx, origin, entries.map(changeOf));
        return null;
      } catch (e) {
        if (e instanceof OutpostError && e.code === 'APPLY_FAILED') return e;
        throw e;
      }
    };
    const resolved = (e: QuarantineEntry) => tx.updateQuarantine(e.id, { status: 'applied', attempts: e.attempts + 1, resolvedAt: now, resolvedBy: actor });
    const failed = (e: QuarantineEntry, message: string) => tx.updateQuarantine(e.id, { attempts: e.attempts + 1, code: 'APPLY_FAILED', message });
    const alsoResolved: number[] = [];
    const stillOpen: number[] = [];
    // The row's changes together first (a later one may fix what the first broke), else one by one, in order.
    let error = await tryApply([head, ...held]);
    if (!error) {
      await resolved(head);
      for (const e of held) (await resolved(e), alsoResolved.push(e.id));
    } else {
      if (held.length) error = await tryApply([head]);
      if (error) {
        await failed(head, error.message);
        stillOpen.push(head.id, ...held.map((e) => e.id));
      } else {
        await resolved(head);
        let blocker: number | null = null;
        for (const e of held) {
          const err = blocker === null ? await tryApply([e]) : null;
          if (blocker === null && !err) (await resolved(e), alsoResolved.push(e.id));
          else {
            if (err) (await failed(e, err.message), (blocker = e.id));
            else await tx.updateQuarantine(e.id, { message: heldMessage(blocker!) });
            stillOpen.push(e.id);
          }
        }
      }
    }
    const applied = error === null;
    await tx.addAudit({
      actor, action: 'quarantine.retry', target: `quarantine:${head.id}`,
      detail: JSON.stringify({ table: head.table, pk: JSON.parse(head.pk) as unknown, op: head.op, origin, applied, error: error?.message ?? null, alsoResolved, stillOpen }),
    }, now);
    const entry = quarantineView((await tx.getQuarantine(head.id))!, await nodeNames(tx));
    return { entry, applied, alsoResolved, stillOpen };
  });
}

/**
 * Discard a quarantined change (and those held behind it): it stays in the
 * table for the record, marked discarded, and the hub's current state of
 * the row is restated into the log (its row, or a delete where it has none)
 * so that the origin node, which still has its own version, converges.
 * Audited as `quarantine.discard`.
 */
export async function discardQuarantined(hub: Pick<ApplyAs, 'db' | 'catalogue' | 'sequencePending' | 'log'>, id: number, actor: string, now: number): Promise<QuarantineOutcome> {
  await hub.sequencePending();
  return hub.db.write(async (tx) => {
    const { head, held } = await openGroup(tx, id);
    for (const e of [head, ...held]) await tx.updateQuarantine(e.id, { status: 'discarded', resolvedAt: now, resolvedBy: actor });
    const table = hub.catalogue.byName.get(head.table);
    const pk = JSON.parse(head.pk) as WireValue[];
    let restated: 'row' | 'delete' | null = null;
    if (table) {
      await lockChangedRows(tx, hub.catalogue.byName, [{ table: table.name, pk }]);
      restated = await restate(tx, table, pk, hub);
    }
    await tx.addAudit({
      actor, action: 'quarantine.discard', target: `quarantine:${head.id}`,
      detail: JSON.stringify({ table: head.table, pk, op: head.op, origin: head.origin, alsoDiscarded: held.map((e) => e.id), restated }),
    }, now);
    const entry = quarantineView((await tx.getQuarantine(head.id))!, await nodeNames(tx));
    return { entry, applied: false, alsoResolved: held.map((e) => e.id), stillOpen: [] };
  });
}

/**
 * Log the hub's state of the row as a restatement, which every node adopts:
 * its row with its stamps, or a delete (with its tombstone's stamp, or with
 * a zero stamp where the hub never had the row, so that any real write wins over it).
 */
async function restate(tx: Tx, table: TableSchema, pk: WireValue[], hub: Pick<ApplyAs, 'log'>): Promise<'row' | 'delete'> {
  const key = pkKey(pk);
  const meta = (await tx.getMeta(table.name, [key])).get(key);
  const row = meta?.exists ? (await tx.getRows(table, [pk])).get(key) : undefined;
  if (meta && row) {
    const change: Change = { table: table.name, pk, op: 'I', hlc: meta.hlc, cols: row, restate: true };
    if (Object.keys(meta.colHlc).length) change.colHlc = { ...meta.colHlc };
    await hub.log(tx, [{ change, origin: null }]);
    return 'row';
  }
  await hub.log(tx, [{ change: { table: table.name, pk, op: 'D', hlc: meta?.hlc ?? NEVER, restate: true }, origin: null }]);
  return 'delete';
}

/** A delete's stamp where the hub never had the row: below every stamp a clock issues (HLC_ZERO itself has no node id, which the wire refuses). */
const NEVER = formatHlc({ wall: 0, counter: 0, node: 'hub' });
