import { OutpostError, type Change, type TableSchema } from '../protocol/index.ts';
import { applyChanges, type AppliedChange, type Arbiter } from './apply-changes.ts';
import type { PendingDeltas } from './counters.ts';
import { planApply } from './apply-order.ts';
import type { ReplicaTx } from './replica-tx.ts';
import { rowKey } from './row-key.ts';

/** A replica transaction that can run a part of itself in a savepoint (the adapters' Tx). */
export interface SavepointTx extends ReplicaTx {
  /** run fn in a SAVEPOINT: on APPLY_FAILED roll back to it, keep the transaction, rethrow; any other failure fails the transaction */
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
}

/** A change of the batch that was not applied. */
export interface RefusedChange {
  change: Change;
  /** the database's refusal (APPLY_FAILED); null when the change was not tried (`behind`) */
  error: OutpostError | null;
  /** the earlier refused change of the same row in this batch that this one is held behind (never applied out of order); else null */
  behind: Change | null;
}

export interface IsolatedResult {
  /** what was applied, in apply order (the hub logs it in this order) */
  results: AppliedChange[];
  /** what was not, in apply order */
  refused: RefusedChange[];
}

const isApplyFailed = (e: unknown): e is OutpostError => e instanceof OutpostError && e.code === 'APPLY_FAILED';

/**
 * `applyChanges`, except that a change the database refuses (a unique index,
 * a check, a foreign key whose parent is gone: APPLY_FAILED) does not fail
 * the batch. The whole batch is applied in one savepoint (on the happy path
 * that is all it costs); if the database refuses it, the batch is applied
 * again part by part, each part in a savepoint of its own, halving a refused
 * part until the changes the database refuses are found one by one. Every
 * other change is applied; a later change of a refused change's row is not
 * tried (it is held behind the refused one, never applied out of order).
 * Other failures (DB_BUSY, a lost connection) fail the transaction as before.
 *
 * `order`: `fk` applies parts in foreign-key order (`planApply`: a push
 * group, one change per row); `batch` in batch order (a pull page: log
 * order, where several changes of a row compose).
 */
export async function applyIsolated(
  tx: SavepointTx,
  catalogue: ReadonlyMap<string, TableSchema>,
  changes: readonly Change[],
  opts: { order: 'fk' | 'batch'; adopt?: (c: Change) => boolean; pending?: PendingDeltas; arbiter?: Arbiter },
): Promise<IsolatedResult> {
  const adopt = opts.adopt ?? (() => false);
  const apply = (list: readonly Change[]): Promise<AppliedChange[]> => applyChanges(tx, catalogue, list, adopt, opts.pending, opts.arbiter);
  let first: OutpostError;
  try {
    return { results: await tx.savepoint(() => apply(changes)), refused: [] };
  } catch (e) {
    if (!isApplyFailed(e)) throw e;
    first = e;
  }
  const ordered = opts.order === 'fk' ? planApply(changes, [...catalogue.values()]) : [...changes];
  const results: AppliedChange[] = [];
  const refused: RefusedChange[] = [];
  /** the refused change of each row that has one */
  const heads = new Map<string, Change>();
  const part = async (list: Change[], known: OutpostError | null): Promise<void> => {
    // Changes of rows refused in an earlier part wait behind them.
    const free: Change[] = [];
    for (const c of list) {
      const head = heads.get(rowKey(c.table, c.pk));
      if (head) refused.push({ change: c, error: null, behind: head });
      else free.push(c);
    }
    if (free.length === 0) return;
    let error = free.length === list.length ? known : null;
    if (!error) {
      try {
        results.push(...(await tx.savepoint(() => apply(free))));
        return;
      } catch (e) {
        if (!isApplyFailed(e)) throw e;
        error = e;
      }
    }
    if (free.length === 1) {
      heads.set(rowKey(free[0]!.table, free[0]!.pk), free[0]!);
      refused.push({ change: free[0]!, error, behind: null });
      return;
    }
    const half = Math.ceil(free.length / 2);
    await part(free.slice(0, half), null);
    await part(free.slice(half), null);
  };
  await part(ordered, first);
  return { results, refused };
}
