import { pkKey, type WireValue } from '../protocol/index.ts';
import type { RowMeta } from './row-meta.ts';
import type { ReplicaTx } from './replica-tx.ts';

/** The stamps of every row the changes touch, by table and key. */
export async function readMetas(tx: Pick<ReplicaTx, 'getMeta'>, rows: readonly { table: string; pk: readonly WireValue[] }[]): Promise<Map<string, Map<string, RowMeta>>> {
  const keys = new Map<string, Set<string>>();
  for (const c of rows) {
    let k = keys.get(c.table);
    if (!k) keys.set(c.table, (k = new Set()));
    k.add(pkKey(c.pk));
  }
  const out = new Map<string, Map<string, RowMeta>>();
  for (const [table, k] of keys) out.set(table, await tx.getMeta(table, [...k]));
  return out;
}

