import { OutpostError, pkKey, type Change, type TableSchema } from '../protocol/index.ts';
import type { Adapter, ScopeMark, ScopeRow, Tx } from '../adapters/adapter.ts';
import { scopeValues, type NodeAttrs, type ScopeValues, type Scopes, type TableScope } from './scopes.ts';

/**
 * What the change log needs for read scopes. A node must receive a row when
 * it enters its scope and lose it when it leaves, and must never learn of a
 * row that was never in its scope, not even its key. So every log entry of a
 * scoped table records the row's scope-column values before and after the
 * change (its `ScopeMark`), and `_outpost_scope_rows` keeps each row's values
 * as last logged (the "before" of its next entry, whoever writes it: a node's
 * push, the website through the capture triggers, an admin).
 */

export type LogInput = { change: Change; origin: string | null };

/** The scopes' state keys. */
const SIGNATURE = (table: string) => `scope_signature:${table}`;
/**
 * Scope generations: the hub's (a table's scope was configured anew) and
 * each node's (its attributes changed). A node pulls incrementally only
 * while the generations its last snapshot was taken under are current.
 */
const HUB_GENERATION = 'scope_generation';
const NODE_GENERATION = (nodeId: string) => `scope_generation:${nodeId}`;
const SNAPSHOT_GENERATION = (nodeId: string) => `scope_snapshot:${nodeId}`;
const ATTRS = (nodeId: string) => `node_attrs:${nodeId}`;

/** Append log entries, with scope marks on those of scoped tables, and keep the scope rows in step. */
export async function appendScoped(tx: Tx, scopes: Scopes, catalogue: ReadonlyMap<string, TableSchema>, entries: readonly LogInput[]): Promise<void> {
  if (scopes.size === 0 || !entries.some((e) => scopes.has(e.change.table))) return tx.appendLogs(entries);
  const state = await readStates(tx, scopes, entries.map((e) => e.change), catalogue);
  const dirty = new Map<string, Map<string, ScopeRow>>();
  const out = entries.map((e) => {
    const scope = scopes.get(e.change.table);
    if (!scope) return e;
    const rows = state.get(scope.table)!;
    const key = pkKey(e.change.pk);
    const { mark, next } = markOf(scope, rows.get(key), e.change);
    rows.set(key, next);
    if (!dirty.has(scope.table)) dirty.set(scope.table, new Map());
    dirty.get(scope.table)!.set(key, toRow(next));
    return { ...e, scope: mark };
  });
  for (const [table, rows] of dirty) await tx.putScopeRows(table, [...rows]);
  await tx.appendLogs(out);
}

/** A row's scope state: whether it exists, and its scope values (the last it had, where it was deleted). */
export interface ScopeState {
  exists: boolean;
  vals: ScopeValues;
}

function markOf(scope: TableScope, before: ScopeState | undefined, c: Change): { mark: ScopeMark; next: ScopeState } {
  const mark: ScopeMark = {};
  if (before?.exists) mark.b = before.vals;
  if (c.op === 'D') return { mark, next: { exists: false, vals: before?.vals ?? {} } };
  // An insert and a restatement carry the whole row; an update its changed columns.
  const vals = c.op === 'I' ? scopeValues(scope, c.cols ?? {}) : { ...(before?.vals ?? scopeValues(scope, {})), ...scopeValues(scope, c.cols ?? {}, true) };
  mark.a = vals;
  return { mark, next: { exists: true, vals } };
}

const toRow = (s: ScopeState): ScopeRow => ({ exists: s.exists, vals: JSON.stringify(s.vals) });

/**
 * The scope state of the rows these changes touch, per scoped table: from
 * the scope rows, or, for a row they do not know (a database the scopes were
 * never indexed on), from its current values.
 */
export async function readStates(tx: Tx, scopes: Scopes, changes: readonly Pick<Change, 'table' | 'pk'>[], catalogue?: ReadonlyMap<string, TableSchema>): Promise<Map<string, Map<string, ScopeState>>> {
  const keys = new Map<string, Map<string, Change['pk']>>();
  for (const c of changes) {
    if (!scopes.has(c.table)) continue;
    if (!keys.has(c.table)) keys.set(c.table, new Map());
    keys.get(c.table)!.set(pkKey(c.pk), c.pk);
  }
  const out = new Map<string, Map<string, ScopeState>>();
  for (const [table, pks] of keys) {
    const stored = await tx.getScopeRows(table, [...pks.keys()]);
    const rows = new Map<string, ScopeState>();
    for (const [k, r] of stored) rows.set(k, { exists: r.exists, vals: JSON.parse(r.vals) as ScopeValues });
    const missing = [...pks].filter(([k]) => !rows.has(k)).map(([, pk]) => pk);
    const schema = catalogue?.get(table);
    if (missing.length && schema) {
      for (const [k, row] of await tx.getRows(schema, missing)) rows.set(k, { exists: true, vals: scopeValues(scopes.get(table)!, row) });
    }
    out.set(table, rows);
  }
  return out;
}

/**
 * Bring the scope rows in line with the config at the hub's start: a table
 * whose scope is new, changed or gone has its rows indexed anew (all of them,
 * one page at a time), and every node takes a fresh snapshot of its scope
 * (a new generation), since what it holds was chosen by other rules.
 */
export async function indexScopes(db: Adapter, scopes: Scopes, tables: readonly TableSchema[]): Promise<string[]> {
  const changed: string[] = [];
  for (const t of tables) {
    const scope = scopes.get(t.name);
    const signature = scope?.signature ?? '';
    const stored = (await db.read((tx) => tx.getState(SIGNATURE(t.name)))) ?? '';
    if (stored === signature) continue;
    await db.write(async (tx) => {
      await tx.clearScopeRows(t.name);
      if (scope) {
        let after: unknown[] | null = null;
        for (;;) {
          const page = await tx.scanRows(t, after, INDEX_PAGE);
          if (page.length === 0) break;
          await tx.putScopeRows(t.name, page.map((r) => [pkKey(t.primaryKey.map((k) => r[k]!)), toRow({ exists: true, vals: scopeValues(scope, r) })]));
          after = t.primaryKey.map((k) => page[page.length - 1]![k]);
          if (page.length < INDEX_PAGE) break;
        }
      }
      await tx.setState(SIGNATURE(t.name), signature);
      await bump(tx, HUB_GENERATION);
    });
    changed.push(t.name);
  }
  return changed;
}

const INDEX_PAGE = 2000;

/** A node's attributes, as `outpost node add --attr` or `outpost node attrs` set them. */
export async function nodeAttrs(tx: Tx, nodeId: string): Promise<NodeAttrs> {
  const v = await tx.getState(ATTRS(nodeId));
  if (!v) return {};
  const parsed = JSON.parse(v) as Record<string, string>;
  // Read into a map without a prototype: a stored name can never reach one.
  return Object.assign(Object.create(null) as Record<string, string>, parsed);
}

export async function writeNodeAttrs(tx: Tx, nodeId: string, attrs: NodeAttrs): Promise<void> {
  await tx.setState(ATTRS(nodeId), JSON.stringify(attrs));
}

async function bump(tx: Tx, key: string): Promise<void> {
  await tx.setState(key, String(Number((await tx.getState(key)) ?? 0) + 1));
}

/** Whether scopes were ever configured on this hub (nodes may hold rows chosen by other rules). */
export async function everScoped(tx: Tx): Promise<boolean> {
  return (await tx.getState(HUB_GENERATION)) !== null;
}

/** A node's attributes changed: its next pull asks for a fresh snapshot. */
export function bumpNodeScope(tx: Tx, nodeId: string): Promise<void> {
  return bump(tx, NODE_GENERATION(nodeId));
}

/** The scope generations now, for the node. */
export async function scopeGeneration(tx: Tx, nodeId: string): Promise<string> {
  return `${(await tx.getState(HUB_GENERATION)) ?? 0}.${(await tx.getState(NODE_GENERATION(nodeId))) ?? 0}`;
}

/** A snapshot for the node starts: it holds what the scopes of this generation choose. */
export async function snapshotTaken(tx: Tx, nodeId: string): Promise<void> {
  await tx.setState(SNAPSHOT_GENERATION(nodeId), await scopeGeneration(tx, nodeId));
}

/**
 * CURSOR_EXPIRED where the node's scope changed since its last snapshot
 * (its attributes or the hub's scope config): it uploads its changes, then
 * takes a fresh snapshot of its scope.
 */
export async function checkScopeGeneration(tx: Tx, nodeId: string, cursor: number): Promise<void> {
  const now = await scopeGeneration(tx, nodeId);
  const seen = (await tx.getState(SNAPSHOT_GENERATION(nodeId))) ?? '0.0';
  if (seen === now) return;
  throw new OutpostError('CURSOR_EXPIRED', `this node's scope changed since its last snapshot (its attributes, or the hub's scope config): it uploads its changes, then takes a fresh snapshot of its scope`, { cursor, scopeGeneration: now, snapshotGeneration: seen });
}
