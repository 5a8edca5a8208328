import { pkKey, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import { planApply } from './apply-order.ts';
import { resolveChange, type Conflict } from './resolve.ts';
import type { ReplicaTx } from './replica-tx.ts';
import type { RowMeta } from './row-meta.ts';
import { WriteBatch } from './write-batch.ts';
import { readMetas } from './read-metas.ts';

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
  for (const c of ordered) if (!catalogue.has(c.table)) throw new Error(`applyChanges: table ${c.table} is not in the catalogue`);
  // Every row's stamps in one read per table; kept current here as changes apply.
  const metas = await readMetas(tx, ordered);
  const batch = new WriteBatch(tx);
  const setMeta = (table: string, key: string, meta: RowMeta): void => {
    metas.get(table)!.set(key, meta);
    batch.putMeta(table, key, meta);
  };
  const out: AppliedChange[] = [];
  for (const change of ordered) {
    const table = catalogue.get(change.table)!;
    const key = pkKey(change.pk);
    if (adopt(change)) {
      // The hub's state of the row as it is, values and stamps: stamps the
      // replica had from changes the hub overrode (an update it undid with a
      // delete, say) must not outlive them, or the replica would diverge.
      if (change.op === 'D') {
        await batch.delete(table, change.pk);
        setMeta(table.name, key, { exists: false, hlc: change.hlc, colHlc: {} });
      } else {
        await batch.upsert(table, withKey(table, change.pk, change.cols ?? {}));
        setMeta(table.name, key, { exists: true, hlc: change.hlc, colHlc: { ...(change.colHlc ?? {}) } });
      }
      out.push({ change, accepted: change, conflicts: [] });
      continue;
    }
    const r = resolveChange(metas.get(table.name)!.get(key), change, table.policy);
    switch (r.action.kind) {
      case 'insert':
        await batch.upsert(table, withKey(table, change.pk, r.action.cols));
        break;
      case 'update':
        await batch.update(table, change.pk, r.action.cols);
        break;
      case 'delete':
        await batch.delete(table, change.pk);
        break;
      case 'none':
        break;
    }
    if (r.meta) setMeta(table.name, key, r.meta);
    out.push({ change, accepted: r.accepted, conflicts: r.conflicts });
  }
  await batch.flush();
  return out;
}

function withKey(table: TableSchema, pk: readonly WireValue[], cols: Record<string, WireValue>): Record<string, WireValue> {
  const values = { ...cols };
  table.primaryKey.forEach((c, i) => (values[c] = pk[i]!));
  return values;
}
