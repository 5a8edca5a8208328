import { OutpostError, VERIFY_MAX_FETCH, pkKey, type TableSchema, type WireValue } from '../protocol/index.ts';
import { BucketSums, bucketRows, differingColumns, rowDigest, rowKey, tableSums } from '../engine/index.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { NodeAgent } from './agent.ts';
import type { HubClient } from './hub-client.ts';
import { readNodeState, type NodeState } from './node-state.ts';
import { catalogueValues, localPending, repairRows, type HubRow } from './verify-repair.ts';
import { summarize, type DifferenceKind, type TableReport, type VerifyReport } from './verify-report.ts';

export type { DifferenceKind, InFlight, RowDifference, TableReport, VerifyReport } from './verify-report.ts';

/** Buckets per table unless told otherwise. */
export const DEFAULT_VERIFY_BUCKETS = 256;
/** Row digests asked for in one request, at most (a single bucket may exceed it). */
const ROWS_PER_REQUEST = 20_000;

export interface VerifyOptions {
  /** overwrite differing rows with the hub's (hub wins; old values recorded in `_outpost_repairs`) */
  repair?: boolean;
  /** run a normal sync (push and pull) first; default true */
  sync?: boolean;
  /** buckets per table (1–4096; default 256) */
  buckets?: number;
  /** compare only these tables (default: every table the node receives) */
  tables?: readonly string[];
  progress?: (what: string, done: number, total?: number) => void;
  /** when repairs happen, for `_outpost_repairs.at` (ms; default Date.now) */
  now?: () => number;
}

interface Ctx {
  db: Adapter;
  client: HubClient;
  state: NodeState;
  catalogue: Map<string, TableSchema>;
  buckets: number;
  opts: VerifyOptions;
}

/**
 * `outpost verify`: compare this node's copy of every table it receives
 * (`both` and `down`) with the hub's, by checksums over hash ranges of the
 * key, then row digests of the ranges that differ, and name the rows that
 * differ. With `repair`, hub wins: those rows take the hub's values and
 * stamps in echo-suppressed writes, and the overwritten node rows are
 * recorded in `_outpost_repairs`. Rows with local changes not pushed yet, or
 * with hub log entries after the node's cursor, are reported in flight and
 * never repaired. `up` tables are skipped (their rows stay on the hub).
 */
export async function verifyNode(target: NodeAgent | Adapter, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const buckets = opts.buckets ?? DEFAULT_VERIFY_BUCKETS;
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 4096) throw new OutpostError('BAD_REQUEST', `buckets must be an integer from 1 to 4096, got ${buckets}`);
  const agent = target instanceof NodeAgent ? target : await NodeAgent.open(target);
  const synced = opts.sync === false ? null : await agent.sync();
  const state = await agent.db.read(readNodeState);
  if (state.snapshot !== 'done') throw new OutpostError('BAD_REQUEST', 'this node has not completed its first snapshot yet; run `outpost sync` first');
  const ctx: Ctx = {
    db: agent.db, client: agent.hubClient(state), state,
    catalogue: new Map(state.tables.map((t) => [t.name, t])), buckets, opts,
  };
  for (const name of opts.tables ?? []) {
    if (!ctx.catalogue.has(name)) throw new OutpostError('UNKNOWN_TABLE', `table ${name} is not synced with this node's hub`, { table: name });
  }
  const reports: TableReport[] = [];
  const hubRows = new Map<string, HubRow>();
  for (const t of state.tables) {
    if (opts.tables && !opts.tables.includes(t.name)) continue;
    reports.push(t.direction === 'up' ? skipped(t) : await verifyTable(ctx, t, hubRows));
  }
  if (opts.repair) {
    // All tables at once: rows of related tables are written parents first and deleted children first.
    const diffs = reports.flatMap((r) => r.differences.filter((d) => !d.inFlight));
    const settled = await repairRows(ctx.db, ctx.catalogue, diffs, hubRows, { cursor: state.cursor, now: opts.now ?? Date.now });
    for (const r of reports) {
      r.differences = r.differences.filter((d) => !settled.has(rowKey(d.table, d.pk)));
      r.repaired = r.differences.filter((d) => d.repaired).length;
    }
  }
  return summarize(reports, synced, buckets, Date.now() - started);
}

function skipped(t: TableSchema): TableReport {
  return {
    table: t.name, direction: t.direction, skipped: 'direction up: its rows are sent to the hub and never back, so there is no hub copy for this node to match',
    nodeRows: 0, hubRows: 0, buckets: 0, bucketsMismatched: 0, rowsCompared: 0, differences: [], repaired: 0,
  };
}

/** Compare one table; the hub's version of the rows that differ goes into `hubRows` (by `rowKey`). */
async function verifyTable(ctx: Ctx, t: TableSchema, hubRows: Map<string, HubRow>): Promise<TableReport> {
  const { db, client, buckets } = ctx;
  const progress = ctx.opts.progress;
  const [hub, node] = await Promise.all([
    client.verifySums({ table: t.name, buckets, schemaVersion: ctx.state.schemaVersion ?? '' }),
    db.read((tx) => tableSums(tx, t, buckets, progress && ((n) => progress(`verify ${t.name}`, n)))),
  ]);
  const report: TableReport = {
    table: t.name, direction: t.direction, skipped: null, nodeRows: node.rows, hubRows: hub.rows, buckets,
    bucketsMismatched: 0, rowsCompared: 0, differences: [], repaired: 0,
  };
  const local = node.toWire();
  const mismatched = hub.sums.flatMap(([n, x], i) => (n !== local[i]![0] || x !== local[i]![1] ? [i] : []));
  report.bucketsMismatched = mismatched.length;
  if (mismatched.length === 0) return report;

  // Row digests of the mismatched buckets, on both sides.
  const nodeDigests = new Map((await db.read((tx) => bucketRows(tx, t, buckets, new Set(mismatched)))).map((r) => [pkKey(r.pk), r]));
  const hubDigests = new Map<string, { pk: WireValue[]; digest: string }>();
  for (const ids of chunkBuckets(mismatched, hub, node)) {
    for (const r of (await client.verifyRows({ table: t.name, buckets, ids })).rows) hubDigests.set(pkKey(r.pk), r);
  }
  report.rowsCompared = Math.max(nodeDigests.size, hubDigests.size);
  const differing = new Map<string, WireValue[]>();
  for (const [key, h] of hubDigests) if (nodeDigests.get(key)?.digest !== h.digest) differing.set(key, h.pk);
  for (const [key, n] of nodeDigests) if (!hubDigests.has(key)) differing.set(key, n.pk);
  if (differing.size === 0) return report;

  // The hub's version of those rows, with its stamps and whether it changed after this node's cursor.
  const pks = [...differing.values()];
  for (let i = 0; i < pks.length; i += VERIFY_MAX_FETCH) {
    const page = await client.verifyFetch({ table: t.name, pks: pks.slice(i, i + VERIFY_MAX_FETCH), after: ctx.state.cursor });
    for (const r of page.rows) hubRows.set(rowKey(t.name, r.pk), r);
  }
  // The node's rows as they are now, and its local changes not pushed yet.
  const { rows, pending } = await db.read(async (tx) => ({ rows: await tx.getRows(t, pks), pending: await localPending(tx) }));
  for (const pk of pks) {
    const h = hubRows.get(rowKey(t.name, pk))!;
    const n = rows.get(pkKey(pk));
    if (n && h.values ? rowDigest(t, n) === rowDigest(t, h.values) : !n && !h.values) continue; // settled meanwhile
    const kind: DifferenceKind = !n ? 'missing-on-node' : !h.values ? 'missing-on-hub' : 'values-differ';
    report.differences.push({
      table: t.name, pk, kind,
      columns: n && h.values ? differingColumns(t, n, h.values) : t.columns.map((c) => c.name),
      node: n ? catalogueValues(t, n) : null,
      hub: h.values,
      inFlight: pending.has(rowKey(t.name, pk)) ? 'node-pending' : h.logAfter ? 'hub-newer' : null,
      repaired: false,
    });
  }
  return report;
}

/** Mismatched buckets in groups of about ROWS_PER_REQUEST rows (by the larger side's counts). */
function chunkBuckets(ids: number[], hub: { sums: [number, string][] }, node: BucketSums): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let rows = 0;
  for (const i of ids) {
    const n = Math.max(hub.sums[i]![0], node.counts[i]!);
    if (cur.length && rows + n > ROWS_PER_REQUEST) (out.push(cur), (cur = []), (rows = 0));
    cur.push(i);
    rows += n;
  }
  if (cur.length) out.push(cur);
  return out;
}
