import { pkKey, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import { planApply } from './apply-order.ts';
import { resolveChange, type Conflict, type Resolution } from './resolve.ts';
import type { ReplicaTx } from './replica-tx.ts';
import type { RowMeta } from './row-meta.ts';
import { WriteBatch } from './write-batch.ts';
import { readMetas } from './read-metas.ts';
import { rowKey } from './row-key.ts';
import { CounterApplier, withoutDeltas, type PendingDeltas } from './counters.ts';

export interface AppliedChange {
  change: Change;
  /** what won and went into the row (null: nothing changed) */
  accepted: Change | null;
  conflicts: Conflict[];
  /** changes the hub made itself in deciding this one (an arbiter's; logged with no origin) */
  hubChanges?: Change[];
  /** the origin must be told the hub's state of the row (an arbiter kept its change back) */
  restate?: boolean;
}

/**
 * Decides a change against a row instead of `resolveChange` (the hub's
 * policies, `arbitrate`). Called in batch order with the row's stamps as the
 * changes before it left them.
 */
export type Arbiter = (meta: RowMeta | undefined, change: Change, table: TableSchema) => Promise<Resolution & { hubChanges?: Change[]; restate?: boolean }>;

/** What a batch does to one row in the end. */
type NetAction = { kind: 'upsert' | 'update'; cols: Record<string, WireValue> } | { kind: 'delete' };

/**
 * Apply a batch of changes inside one open transaction. The changes are
 * resolved in batch order, each against the row's stamps as the changes
 * before it left them (several entries of one row — a pull page — compose);
 * then each row's net effect is written, upserts parents first and deletes
 * children first. Writing net effects keeps the database's foreign keys
 * satisfied at every statement (MariaDB and PostgreSQL's NOT DEFERRABLE
 * keys check each one): a row inserted and deleted within the batch is
 * never written, so its children's inserts cannot come before it.
 */
export async function applyChanges(
  tx: ReplicaTx,
  catalogue: ReadonlyMap<string, TableSchema>,
  changes: readonly Change[],
  /** which changes to adopt as they are (the hub's restatements), instead of resolving them */
  adopt: (c: Change) => boolean = () => false,
  /**
   * on a node: the pending local counter deltas (`readPending`). Counter
   * values the hub sends are then its values, with these added on top.
   */
  pending?: PendingDeltas,
  /** the hub's policies (absent: stamps decide, as on nodes) */
  arbiter?: Arbiter,
): Promise<AppliedChange[]> {
  for (const c of changes) if (!catalogue.has(c.table)) throw new Error(`applyChanges: table ${c.table} is not in the catalogue`);
  // Every row's stamps in one read per table; kept current here as changes resolve.
  const metas = await readMetas(tx, changes);
  // Counter columns: current values of the rows deltas go to (counters.ts).
  const counters = await CounterApplier.load(tx, catalogue, changes, pending);
  const batch = new WriteBatch(tx);
  /**
   * Each row's net action, and where it stands in the batch: a row the
   * batch creates stands where it was (last) created, so that rows of a
   * self-referencing table made in one batch keep their order; any other
   * row where its last change is.
   */
  const net = new Map<string, { change: Change; action: NetAction; at: number; createdAt: number | null }>();
  const out: AppliedChange[] = [];
  for (let i = 0; i < changes.length; i++) {
    const change = changes[i]!;
    const table = catalogue.get(change.table)!;
    const key = pkKey(change.pk);
    const rowMetas = metas.get(table.name)!;
    const existed = rowMetas.get(key)?.exists ?? false;
    let action: NetAction | null;
    if (adopt(change)) {
      // The hub's state of the row as it is, values and stamps: stamps the
      // replica had from changes the hub overrode (an update it undid with a
      // delete, say) must not outlive them, or the replica would diverge.
      const meta: RowMeta = change.op === 'D' ? { exists: false, hlc: change.hlc, colHlc: {} } : { exists: true, hlc: change.hlc, colHlc: { ...(change.colHlc ?? {}) } };
      rowMetas.set(key, meta);
      batch.putMeta(table.name, key, meta);
      action = change.op === 'D' ? { kind: 'delete' } : { kind: 'upsert', cols: change.cols ?? {} };
      out.push({ change, accepted: change, conflicts: [] });
    } else {
      const before = rowMetas.get(key);
      const input = counters ? withoutDeltas(change) : change;
      let r: Resolution & { hubChanges?: Change[]; restate?: boolean } = arbiter ? await arbiter(before, input, table) : resolveChange(before, input, table.policy);
      // Counter deltas add up whatever the policy: they complete what the stamps (and the hub's policies) decided.
      if (counters) {
        r = { ...r, ...counters.resolve(table, change, r, before) };
        // A row the hub brought back carries its counters' final values, deltas included: every node takes it whole.
        const revived = r.hubChanges?.find((h) => h.op === 'I');
        const action = r.action;
        if (revived && (action.kind === 'insert' || action.kind === 'update')) {
          r.hubChanges = r.hubChanges!.map((h) => (h === revived ? { ...h, cols: { ...h.cols, ...action.cols } } : h));
          r.accepted = null;
        }
      }
      action = r.action.kind === 'none' ? null : r.action.kind === 'insert' ? { kind: 'upsert', cols: r.action.cols } : r.action;
      if (r.meta) {
        rowMetas.set(key, r.meta);
        batch.putMeta(table.name, key, r.meta);
      }
      out.push({ change, accepted: r.accepted, conflicts: r.conflicts, ...(r.hubChanges ? { hubChanges: r.hubChanges } : {}), ...(r.restate ? { restate: true } : {}) });
    }
    counters?.track(table, change.pk, action);
    if (!action) continue;
    const k = rowKey(change.table, change.pk);
    const prev = net.get(k);
    const created = action.kind === 'upsert' && !existed ? i : action.kind === 'delete' ? null : (prev?.createdAt ?? null);
    net.set(k, { change, action: prev ? composed(prev.action, action) : action, at: i, createdAt: created });
  }
  // Each row once, upserts parents first, deletes children first.
  const rows = [...net.values()].sort((a, b) => stands(a) - stands(b));
  const actionOf = new Map(rows.map((n) => [n.change, n.action]));
  for (const c of planApply(rows.map((n) => n.change), [...catalogue.values()], (c) => actionOf.get(c)!.kind === 'delete')) {
    const table = catalogue.get(c.table)!;
    const action = actionOf.get(c)!;
    if (action.kind === 'delete') await batch.delete(table, c.pk);
    else if (action.kind === 'upsert') await batch.upsert(table, withKey(table, c.pk, action.cols));
    else await batch.update(table, c.pk, action.cols);
  }
  await batch.flush();
  // Results in apply order (parents first, deletes children first): the hub
  // logs accepted changes in this order, so that any prefix of its log a
  // pull page ends on keeps foreign keys satisfied.
  const result = new Map(out.map((o) => [o.change, o]));
  return planApply(changes, [...catalogue.values()]).map((c) => result.get(c)!);
}

const stands = (n: { action: NetAction; at: number; createdAt: number | null }): number => (n.action.kind !== 'delete' && n.createdAt !== null ? n.createdAt : n.at);

/** Two actions on one row, one after the other, as one. */
function composed(prev: NetAction, next: NetAction): NetAction {
  if (next.kind === 'delete') return next;
  if (prev.kind === 'delete') return next.kind === 'upsert' ? next : prev; // an update of a deleted row resolves to nothing
  if (next.kind === 'upsert') return prev.kind === 'upsert' ? { kind: 'upsert', cols: { ...prev.cols, ...next.cols } } : next;
  return { kind: prev.kind, cols: { ...prev.cols, ...next.cols } };
}

function withKey(table: TableSchema, pk: readonly WireValue[], cols: Record<string, WireValue>): Record<string, WireValue> {
  const values = { ...cols };
  table.primaryKey.forEach((c, i) => (values[c] = pk[i]!));
  return values;
}
