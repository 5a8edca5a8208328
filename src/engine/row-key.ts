import { pkKey, type Change, type HlcClock, type TableSchema, type WireValue } from '../protocol/index.ts';
import type { CaptureTx, ReplicaTx } from './replica-tx.ts';

/** One string per (table, key), for sets and maps of rows. */
export function rowKey(table: string, pk: readonly WireValue[]): string {
  return `${table}\u0000${pkKey(pk)}`;
}

/** The rows that have captured changes not yet acknowledged by the hub. */
export async function pendingRows(tx: CaptureTx): Promise<Set<string>> {
  const rows = await tx.readCapture({ limit: Number.MAX_SAFE_INTEGER });
  return new Set(rows.map((r) => rowKey(r.table, JSON.parse(r.pk) as WireValue[])));
}

/** Let the clock see every stamp a batch of incoming changes carries. */
export function receiveStamps(clock: HlcClock, changes: readonly Change[]): void {
  for (const c of changes) {
    clock.receive(c.hlc);
    for (const h of Object.values(c.colHlc ?? {})) clock.receive(h);
  }
}

/**
 * Lock every row a batch of changes touches, table by table in name order and
 * keys in sorted order, so two transactions never wait on each other in a circle.
 */
export async function lockChangedRows(tx: ReplicaTx, catalogue: ReadonlyMap<string, TableSchema>, changes: readonly Pick<Change, 'table' | 'pk'>[]): Promise<void> {
  if (!tx.rowLocks) return;
  const byTable = new Map<string, Map<string, WireValue[]>>();
  for (const c of changes) {
    if (!catalogue.has(c.table)) continue;
    let keys = byTable.get(c.table);
    if (!keys) byTable.set(c.table, (keys = new Map()));
    keys.set(pkKey(c.pk), c.pk);
  }
  for (const name of [...byTable.keys()].sort()) {
    const keys = byTable.get(name)!;
    const sorted = [...keys.keys()].sort().map((k) => keys.get(k)!);
    for (let i = 0; i < sorted.length; i += 500) await tx.lockRows(catalogue.get(name)!, sorted.slice(i, i + 500));
  }
}
