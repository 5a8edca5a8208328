import type { TableSchema, WireValue } from '../protocol/index.ts';
import type { RowValues } from '../engine/index.ts';
import type { SyncSummary } from './agent.ts';

/** How a node's row differs from the hub's. */
export type DifferenceKind = 'missing-on-node' | 'missing-on-hub' | 'values-differ';

/**
 * Why a row legitimately differs right now: the node has local changes to it
 * not yet pushed (`node-pending`), or the hub has log entries for it after
 * the node's pull cursor (`hub-newer`). A sync settles these; verify never
 * repairs them.
 */
export type InFlight = 'node-pending' | 'hub-newer';

export interface RowDifference {
  table: string;
  pk: WireValue[];
  kind: DifferenceKind;
  /** the columns whose values differ (every column where one side has no row) */
  columns: string[];
  /** the node's row as compared (canonical wire values of the hub's columns), null where it has none */
  node: RowValues | null;
  /** the hub's row, null where it has none */
  hub: RowValues | null;
  inFlight: InFlight | null;
  /** overwritten with the hub's version (and recorded in `_outpost_repairs`) by `--repair` */
  repaired: boolean;
}

export interface TableReport {
  table: string;
  direction: TableSchema['direction'];
  /** why the table was not compared (an `up` table: its rows are not sent to nodes), or null */
  skipped: string | null;
  nodeRows: number;
  hubRows: number;
  /** buckets compared (hash ranges of the canonical key) */
  buckets: number;
  /** buckets whose row count or digest differed */
  bucketsMismatched: number;
  /** rows compared one by one: those of the mismatched buckets, counted on the side with more */
  rowsCompared: number;
  differences: RowDifference[];
  repaired: number;
}

export interface VerifyReport {
  /** every compared table is equal (after any repair): no difference left, none in flight */
  equal: boolean;
  /** the sync verify ran first, or null with `sync: false` */
  synced: SyncSummary | null;
  buckets: number;
  tables: TableReport[];
  /** differences neither in flight nor repaired */
  remaining: number;
  inFlight: number;
  repaired: number;
  durationMs: number;
}

/** Counts over the tables, and whether they are equal. */
export function summarize(tables: TableReport[], synced: SyncSummary | null, buckets: number, durationMs: number): VerifyReport {
  const all = tables.flatMap((t) => t.differences);
  const remaining = all.filter((d) => !d.repaired && !d.inFlight).length;
  const inFlight = all.filter((d) => d.inFlight).length;
  const repaired = all.filter((d) => d.repaired).length;
  return { equal: remaining === 0 && inFlight === 0, synced, buckets, tables, remaining, inFlight, repaired, durationMs };
}
