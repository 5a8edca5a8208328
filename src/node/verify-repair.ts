import { HLC_ZERO, formatHlc, pkKey, type Change, type TableSchema, type VerifyFetchResponse } from '../protocol/index.ts';
import { applyChanges, lockChangedRows, rowDigest, rowKey, type RowValues } from '../engine/index.ts';
import type { Adapter, Tx } from '../adapters/adapter.ts';
import type { RowDifference } from './verify-report.ts';
import { readNodeState } from './node-state.ts';

/** A row as the hub sent it for verify: values (null: absent) and stamps. */
export type HubRow = VerifyFetchResponse['rows'][number];

/** The stamp the hub gives a row it has no stamps for (as in its snapshot). */
const HUB_ZERO = formatHlc({ wall: 0, counter: 0, node: 'hub' });

/** Rows with captured changes not acknowledged yet, stamped or not, as `rowKey`s. */
export async function localPending(tx: Tx): Promise<Set<string>> {
  const stamped = await tx.readCapture({ limit: Number.MAX_SAFE_INTEGER });
  const unstamped = await tx.readCapture({ unstamped: true, limit: Number.MAX_SAFE_INTEGER });
  return new Set([...stamped, ...unstamped].map((r) => `${r.table}\u0000${r.pk}`));
}

/** The hub's columns of a row, in catalogue order (columns only this node has are left out). */
export function catalogueValues(table: TableSchema, row: RowValues): RowValues {
  return Object.fromEntries(table.columns.map((c) => [c.name, row[c.name] ?? null]));
}

/**
 * Hub wins: overwrite the node's rows with the hub's, values and stamps (as a
 * node adopts a restatement), or delete the rows the hub lacks, for every
 * table in one echo-suppressed write transaction (so nothing of it is
 * captured or pushed, and rows of related tables are written parents first
 * and deleted children first). Every overwritten row is recorded in
 * `_outpost_repairs` with its old values. A row that gained a local change
 * meanwhile is left alone and marked in flight; one that meanwhile became
 * equal is returned (as a `rowKey`), to be dropped from the report.
 */
export async function repairRows(db: Adapter, catalogue: ReadonlyMap<string, TableSchema>, diffs: RowDifference[], hub: ReadonlyMap<string, HubRow>, opts: { cursor: number; now: () => number }): Promise<Set<string>> {
  const settled = new Set<string>();
  if (diffs.length === 0) return settled;
  await db.write(async (tx) => {
    // A pull since the hub's rows were fetched (`outpost run` alongside) may
    // have applied newer versions than those: adopting the fetched ones
    // would step back behind the cursor. Leave them all to the next verify.
    if ((await readNodeState(tx)).cursor !== opts.cursor) {
      for (const d of diffs) d.inFlight = 'hub-newer';
      return;
    }
    // An app write to these rows has committed (and is seen as pending below) or waits.
    await lockChangedRows(tx, catalogue, diffs);
    const pending = await localPending(tx);
    const changes: Change[] = [];
    const done: RowDifference[] = [];
    const byTable = new Map<string, RowDifference[]>();
    for (const d of diffs) byTable.set(d.table, [...(byTable.get(d.table) ?? []), d]);
    for (const [name, rows] of byTable) {
      const table = catalogue.get(name)!;
      const pks = rows.map((d) => d.pk);
      const current = await tx.getRows(table, pks);
      const metas = await tx.getMeta(name, pks.map((pk) => pkKey(pk)));
      for (const d of rows) {
        const key = pkKey(d.pk);
        const h = hub.get(rowKey(name, d.pk))!;
        if (pending.has(rowKey(name, d.pk))) {
          d.inFlight = 'node-pending';
          continue;
        }
        const cur = current.get(key);
        const same = cur && h.values ? rowDigest(table, cur) === rowDigest(table, h.values) : !cur && !h.values;
        if (same) {
          settled.add(rowKey(name, d.pk));
          continue;
        }
        const meta = metas.get(key);
        const change: Change = h.values
          ? { table: name, pk: d.pk, op: 'I', hlc: h.hlc ?? HUB_ZERO, cols: h.values, restate: true }
          : { table: name, pk: d.pk, op: 'D', hlc: h.hlc ?? meta?.hlc ?? HLC_ZERO, restate: true };
        if (h.values && h.colHlc) change.colHlc = { ...h.colHlc };
        changes.push(change);
        done.push(d);
        await tx.addRepair({
          table: name, pk: key, kind: d.kind,
          oldValues: cur ? JSON.stringify(catalogueValues(table, cur)) : null,
          oldHlc: meta?.hlc ?? null,
          newValues: h.values ? JSON.stringify(h.values) : null,
          newHlc: change.hlc,
        }, opts.now());
      }
    }
    // The hub's state of each row as it is (like a restatement), not resolved against this node's stamps.
    await applyChanges(tx, catalogue, changes, () => true);
    for (const d of done) d.repaired = true;
  });
  return settled;
}
