import { pkKey, type WireValue } from '../protocol/index.ts';
import type { RowMeta } from './row-meta.ts';
import type { ReplicaTx } from './replica-tx.ts';

/**
 * The stamps of every row the changes touch, by table and key. `known`:
 * stamps the caller already holds as written in this transaction, by table
 * and key; they are returned as they are, not read again.
 */
export async function readMetas(
  tx: Pick<ReplicaTx, 'getMeta'>,
  rows: readonly { table: string; pk: readonly WireValue[] }[],
  known?: ReadonlyMap<string, ReadonlyMap<string, RowMeta>>,
): Promise<Map<string, Map<string, RowMeta>>> {
  const keys = new Map<string, Set<string>>();
  for (const c of rows) {
    let k = keys.get(c.table);
    if (!k) keys.set(c.table, (k = new Set()));
    k.add(pkKey(c.pk));
  }
  const out = new Map<string, Map<string, RowMeta>>();
  for (const [table, k] of keys) {
    const have = known?.get(table);
    const metas = await tx.getMeta(table, have ? [...k].filter((key) => !have.has(key)) : [...k]);
    if (have) for (const key of k) if (have.has(key)) metas.set(key, have.get(key)!);
    out.set(table, metas);
  }
  return out;
}

