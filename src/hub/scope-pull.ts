import { formatHlc, pkKey, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import type { LogEntry, Tx } from '../adapters/adapter.ts';
import { matches, scopeValues, type NodeAttrs, type Scopes, type TableScope } from './scopes.ts';

/**
 * A page of the change log as one node may see it (scope-log.ts says why
 * entries carry scope marks). Per entry of a scoped table, with "in" meaning
 * the node's read filter passes:
 *
 * - in before and after: the entry as it is (the node has the row);
 * - in after only (the row entered the scope): the row's whole current
 *   state, values and stamps, as a restatement, if it is still in scope now
 *   (else nothing: a later entry takes it out again);
 * - in before only (it left): a delete restatement, so the node drops it;
 * - in neither: nothing, not even the key.
 *
 * Entries logged for one node alone (restatements after a refused push) go
 * to that node only. Entries without a mark predate the table's scope:
 * nodes pulling from before it take a fresh snapshot instead (SCOPE_EPOCH).
 * Must run in the same read transaction as the log read, so "current" rows
 * are those of the page's snapshot.
 */
export async function projectForNode(tx: Tx, scopes: Scopes, catalogue: ReadonlyMap<string, TableSchema>, nodeId: string, attrs: NodeAttrs, entries: readonly LogEntry[]): Promise<Change[]> {
  const out: (Change | { enter: TableScope; pk: WireValue[] })[] = [];
  const entering = new Map<string, Map<string, WireValue[]>>();
  for (const e of entries) {
    const c = e.change;
    if (e.scope?.t !== undefined) {
      if (e.scope.t === nodeId) out.push(c);
      continue;
    }
    const scope = scopes.get(c.table);
    if (!scope?.read) {
      out.push(c);
      continue;
    }
    if (!e.scope) continue;
    const inBefore = matches(scope.read, e.scope.b, attrs);
    const inAfter = matches(scope.read, e.scope.a, attrs);
    if (inBefore && inAfter) out.push(c);
    else if (inBefore) out.push({ table: c.table, pk: c.pk, op: 'D', hlc: c.hlc, restate: true });
    else if (inAfter) {
      out.push({ enter: scope, pk: c.pk });
      if (!entering.has(c.table)) entering.set(c.table, new Map());
      entering.get(c.table)!.set(pkKey(c.pk), c.pk);
    }
  }
  if (entering.size === 0) return out as Change[];
  const current = new Map<string, Map<string, Change>>();
  for (const [table, pks] of entering) {
    current.set(table, await rowStates(tx, catalogue.get(table)!, scopes.get(table)!, attrs, [...pks.values()]));
  }
  const sent = new Set<string>();
  const result: Change[] = [];
  for (const item of out) {
    if (!('enter' in item)) {
      result.push(item);
      continue;
    }
    const key = pkKey(item.pk);
    const dedupe = `${item.enter.table}\u0000${key}`;
    const state = current.get(item.enter.table)?.get(key);
    if (state && !sent.has(dedupe)) (result.push(state), sent.add(dedupe));
  }
  return result;
}

/** The rows (of these keys) that exist and pass the node's read filter now, as restatements with their stamps. */
async function rowStates(tx: Tx, table: TableSchema, scope: TableScope, attrs: NodeAttrs, pks: WireValue[][]): Promise<Map<string, Change>> {
  const rows = await tx.getRows(table, pks);
  const metas = await tx.getMeta(table.name, [...rows.keys()]);
  const out = new Map<string, Change>();
  for (const [key, row] of rows) {
    if (!matches(scope.read, scopeValues(scope, row), attrs)) continue;
    const meta = metas.get(key);
    const pk = table.primaryKey.map((k) => row[k]!);
    const change: Change = { table: table.name, pk, op: 'I', hlc: meta?.hlc ?? NEVER, cols: { ...row }, restate: true };
    if (meta && Object.keys(meta.colHlc).length) change.colHlc = { ...meta.colHlc };
    out.set(key, change);
  }
  return out;
}

/** The stamp of a row the hub has no stamps of (written before the hub's triggers): below every real stamp. */
const NEVER = formatHlc({ wall: 0, counter: 0, node: 'hub' });

/**
 * The hub's state of rows a node changed outside its write scope, as that
 * node may see it: the row (values and stamps) where it is in the node's
 * read scope, else a delete (with the lowest stamp, so any write of its
 * own wins over it locally), so the node drops what the hub refused.
 * Logged for that node alone.
 */
export async function projectionsFor(tx: Tx, table: TableSchema, scope: TableScope, attrs: NodeAttrs, pks: WireValue[][]): Promise<Change[]> {
  const visible = await rowStates(tx, table, scope, attrs, pks);
  // A row the node may not see gives away nothing, not even its stamp.
  return pks.map((pk) => visible.get(pkKey(pk)) ?? { table: table.name, pk, op: 'D', hlc: NEVER, restate: true });
}
