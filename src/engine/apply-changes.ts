import { pkKey, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import { planApply } from './apply-order.ts';
import { resolveChange, type Conflict } from './resolve.ts';
import type { ReplicaTx } from './replica-tx.ts';

export interface AppliedChange {
  change: Change;
  /** what won and went into the row (null: nothing changed) */
  accepted: Change | null;
  conflicts: Conflict[];
}

/**
 * Apply a batch of changes inside one open transaction: parents first,
 * deletes children first, each change resolved against the row's stamps.
 */
export async function applyChanges(
  tx: ReplicaTx,
  catalogue: ReadonlyMap<string, TableSchema>,
  changes: readonly Change[],
  /** which changes to adopt as they are (the hub's restatements), instead of resolving them */
  adopt: (c: Change) => boolean = () => false,
): Promise<AppliedChange[]> {
  const tables = [...catalogue.values()];
  const ordered = planApply(changes, tables);
  const out: AppliedChange[] = [];
  for (const change of ordered) {
    const table = catalogue.get(change.table);
    if (!table) throw new Error(`applyChanges: table ${change.table} is not in the catalogue`);
    const key = pkKey(change.pk);
    if (adopt(change)) {
      await adoptChange(tx, table, change);
      out.push({ change, accepted: change, conflicts: [] });
      continue;
    }
    const meta = (await tx.getMeta(table.name, [key])).get(key);
    const r = resolveChange(meta, change, table.policy);
    switch (r.action.kind) {
      case 'insert':
        await tx.upsertRow(table, withKey(table, change.pk, r.action.cols));
        break;
      case 'update':
        await tx.updateRow(table, change.pk, r.action.cols);
        break;
      case 'delete':
        await tx.deleteRow(table, change.pk);
        break;
      case 'none':
        break;
    }
    if (r.meta) await tx.putMeta(table.name, key, r.meta);
    out.push({ change, accepted: r.accepted, conflicts: r.conflicts });
  }
  return out;
}

/**
 * Take the hub's state of a row as it is: its values and its stamps. Stamps
 * the replica had from changes the hub overrode (an update the hub undid
 * with a delete, say) must not outlive them, or the replica would diverge.
 */
async function adoptChange(tx: ReplicaTx, table: TableSchema, change: Change): Promise<void> {
  const key = pkKey(change.pk);
  if (change.op === 'D') {
    await tx.deleteRow(table, change.pk);
    await tx.putMeta(table.name, key, { exists: false, hlc: change.hlc, colHlc: {} });
    return;
  }
  await tx.upsertRow(table, withKey(table, change.pk, change.cols ?? {}));
  await tx.putMeta(table.name, key, { exists: true, hlc: change.hlc, colHlc: { ...(change.colHlc ?? {}) } });
}

function withKey(table: TableSchema, pk: readonly WireValue[], cols: Record<string, WireValue>): Record<string, WireValue> {
  const values = { ...cols };
  table.primaryKey.forEach((c, i) => (values[c] = pk[i]!));
  return values;
}
