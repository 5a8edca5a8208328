import { pkKey, type Change, type HlcClock, type WireValue } from '../protocol/index.ts';
import type { CaptureTx } from './replica-tx.ts';

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
