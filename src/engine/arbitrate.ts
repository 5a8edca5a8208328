import { columnPolicy, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import { changeColumnStamp, resolveChange, type Conflict, type Resolution } from './resolve.ts';
import { columnStamp, type RowMeta } from './row-meta.ts';
import type { RowValues } from './replica-tx.ts';

/**
 * What other origins wrote to one row after the pushing node's cursor: the
 * node had not seen these writes when it made its own, so they are
 * concurrent with it. Restatements are not writes and are not counted.
 */
export interface ConcurrentWrites {
  /** column → who wrote it last (a node id, or null for the hub: the website or an admin) */
  cols: Map<string, string | null>;
}

/** What a custom resolver is asked: one row's contested columns, both sides, and the base where known. */
export interface CustomConflict {
  table: string;
  pk: WireValue[];
  /** `column`: both sides wrote the columns; `delete-updated`: the node deleted a row the hub changed; `update-deleted`: the node changed a row the hub deleted */
  kind: 'column' | 'delete-updated' | 'update-deleted';
  columns: string[];
  /** the hub's values of the columns (null: the hub deleted the row) */
  hub: { values: RowValues | null; stamps: Record<string, string> };
  /** the node's values (null: the node deleted the row) */
  node: { values: RowValues | null; stamps: Record<string, string>; origin: string };
  /** the columns' values before either side changed them, where the hub's log still has them */
  base: RowValues | null;
}

/**
 * A custom resolver's answer: keep the hub's side, take the node's, write
 * these values (for the contested columns; any it leaves out keep the
 * hub's), or leave it to an admin.
 */
export type CustomDecision = { take: 'hub' } | { take: 'node' } | { values: RowValues } | { manual: true; reason?: string };
export type CustomResolver = (conflict: CustomConflict) => CustomDecision | Promise<CustomDecision>;

/** Everything the hub knows of one row when it decides a pushed change. */
export interface ArbiterContext {
  /** the pushing node */
  origin: string;
  /** concurrent writes to the row (undefined: none) */
  concurrent: ConcurrentWrites | undefined;
  /** the hub's current row (read lazily: only a conflict needs it) */
  hubRow: () => Promise<RowValues | undefined>;
  /** the row's values before the hub deleted it (from the change log), or null where they are purged */
  deletedRow: () => Promise<RowValues | null>;
  /** the row's values as of the node's cursor, where known */
  base: () => Promise<RowValues | null>;
  /** a fresh hub stamp, above every stamp seen */
  tick: () => string;
  /** the table's custom resolver (policy or a column `custom`) */
  custom: CustomResolver | undefined;
  /** why values a resolver gave cannot be written (a column they do not fit), or null */
  check: (values: RowValues) => string | null;
}

/** A conflict as the hub records it: both sides, who wrote each, the rule, the result, open or decided. */
export interface HubConflict extends Conflict {
  /** who wrote the losing side (a node id; null: the hub) */
  lostOrigin: string | null;
  /** the winning side's value (undefined: a delete, or a row-level conflict) */
  kept: WireValue | RowValues | undefined;
  keptOrigin: string | null;
  /** the value the row holds afterwards (undefined: deleted or unchanged row-level) */
  result: WireValue | RowValues | undefined;
  /** the policy applied: merge, lww, manual, custom, delete-wins, update-wins */
  policy: string;
  /** auto: decided by the rule; open: waiting for an admin (the hub kept its side) */
  status: 'auto' | 'open';
  /** the node's side as it came (to apply it if an admin takes it) */
  incoming: Change;
  /** the value before both writes (undefined: not known, the log no longer has it) */
  base: WireValue | RowValues | undefined;
}

export interface HubResolution extends Resolution {
  conflicts: HubConflict[];
  /** changes the hub made itself (a resolver's values, a row an update brought back): logged with no origin, so every node takes them */
  hubChanges: Change[];
  /** the pushing node must be told the hub's state of the row (its change was kept back or changed) */
  restate: boolean;
}

const HUB = 'hub';

/** Who made a stamp: its node id part (`hub` for the hub's own). */
export function stampOrigin(hlc: string): string | null {
  const node = hlc.split('-').slice(2).join('-');
  return node === HUB ? null : node;
}

/**
 * Decide a pushed change against the hub's row by the table's policies.
 * Stamps decide first (`resolveChange`, as every replica does); then, for
 * writes concurrent with the hub's (the node had not seen them), the
 * column's policy may keep the hub's value (`manual`, or a resolver taking
 * the hub's side), take the node's, or write new values, and a delete
 * against a concurrent update follows the table's `onDelete`. Every
 * concurrent write that loses, or that the winner overwrites, becomes a
 * conflict record.
 */
export async function arbitrate(meta: RowMeta | undefined, change: Change, table: TableSchema, ctx: ArbiterContext): Promise<HubResolution> {
  const base = resolveChange(meta, change, table.policy);
  const out: HubResolution = { ...base, conflicts: [], hubChanges: [], restate: false };
  const incoming = change;
  const rec = (c: Omit<HubConflict, 'incoming' | 'base'> & { base?: HubConflict['base'] }): HubConflict => ({ base: undefined, ...c, incoming });

  if (change.op === 'D') return deleteOfRow(meta, change, table, ctx, base, out, rec);
  if (meta && !meta.exists && change.op === 'U') return updateOfDeleted(meta, change, table, ctx, base, out, rec);
  if (!meta || !meta.exists) {
    // An insert of a row the hub does not have, or an update of a row it never saw.
    out.conflicts = base.conflicts.filter(notKey(table)).map((c) => rec({ ...c, lostOrigin: ctx.origin, kept: undefined, keptOrigin: stampOrigin(c.winnerHlc), result: undefined, policy: table.policy, status: 'auto' }));
    return out;
  }

  // A live row: column by column.
  const cols = change.cols ?? {};
  const won = new Map<string, [WireValue, string]>();
  if (base.action.kind === 'update' || base.action.kind === 'insert') for (const [c, v] of Object.entries(base.action.cols)) won.set(c, [v, changeColumnStamp(change, c)]);
  const lostBy = new Map(base.conflicts.filter((c) => c.column !== null).map((c) => [c.column!, c]));
  const contested: string[] = [];
  let hubRowRead: RowValues | undefined;
  let baseRead: RowValues | null | undefined;
  for (const c of Object.keys(cols)) {
    if (table.primaryKey.includes(c)) continue;
    if (lostBy.has(c)) contested.push(c);
    else if (won.has(c) && ctx.concurrent?.cols.has(c)) {
      // Overwriting the same value loses nothing; nor does overwriting a
      // value that is still what the node had seen (an lww row's entries
      // carry every column, changed or not).
      hubRowRead ??= (await ctx.hubRow()) ?? {};
      if (sameValue(hubRowRead[c], cols[c])) continue;
      if (baseRead === undefined) baseRead = await ctx.base();
      if (baseRead && Object.hasOwn(baseRead, c) && sameValue(baseRead[c], hubRowRead[c])) continue;
      contested.push(c);
    }
  }
  if (contested.length === 0) {
    out.conflicts = base.conflicts.filter(notKey(table)).map((c) => rec({ ...c, lostOrigin: ctx.origin, kept: undefined, keptOrigin: stampOrigin(c.winnerHlc), result: undefined, policy: table.policy, status: 'auto' }));
    return out;
  }

  const hubRow = hubRowRead ?? (await ctx.hubRow()) ?? {};
  const baseRow = baseRead === undefined ? await ctx.base() : baseRead;
  const custom = contested.filter((c) => columnPolicy(table, c) === 'custom');
  const decision = custom.length ? await decide(ctx, {
    table: table.name, pk: change.pk, kind: 'column', columns: custom,
    hub: { values: pick(hubRow, custom), stamps: Object.fromEntries(custom.map((c) => [c, columnStamp(meta, c)])) },
    node: { values: pick(cols, custom), stamps: Object.fromEntries(custom.map((c) => [c, changeColumnStamp(change, c)])), origin: ctx.origin },
    base: baseRow ? pick(baseRow, custom) : null,
  }) : null;

  const fresh: RowValues = {};
  const metaNext: RowMeta = { ...(base.meta ?? meta), colHlc: { ...(base.meta ?? meta).colHlc } };
  for (const c of contested) {
    const policy = columnPolicy(table, c);
    const nodeV = cols[c]!;
    const nodeH = changeColumnStamp(change, c);
    const hubV = hubRow[c] ?? null;
    const hubH = columnStamp(meta, c);
    // Who wrote the hub's value: its stamp says (an lww entry after the cursor carries every column, written or not).
    const hubOrigin = stampOrigin(hubH);
    const incomingWon = won.has(c);
    const keepHub = (): void => {
      if (won.delete(c)) metaNext.colHlc[c] = hubH;
      out.restate = true;
    };
    const write = (v: WireValue): void => {
      won.delete(c);
      fresh[c] = v;
    };
    const nodeLoses = { column: c, lost: nodeV, lostHlc: nodeH, lostOrigin: ctx.origin, kept: hubV, winnerHlc: hubH, keptOrigin: hubOrigin, base: baseRow && Object.hasOwn(baseRow, c) ? baseRow[c] : undefined };
    const hubLoses = { column: c, lost: hubV, lostHlc: hubH, lostOrigin: hubOrigin, kept: nodeV, winnerHlc: nodeH, keptOrigin: ctx.origin, base: baseRow && Object.hasOwn(baseRow, c) ? baseRow[c] : undefined };
    const kind = table.policy === 'lww' && policy === 'lww' ? ('row' as const) : ('column' as const);
    if (policy === 'manual' || (policy === 'custom' && decision && 'manual' in decision)) {
      keepHub();
      const why = policy === 'custom' && decision && 'manual' in decision ? `custom resolver: ${decision.reason ?? 'left to an admin'}` : 'manual: the hub keeps its value until an admin decides';
      out.conflicts.push(rec({ kind, ...nodeLoses, result: hubV, rule: why, policy, status: 'open' }));
    } else if (policy === 'custom' && decision) {
      if ('take' in decision && decision.take === 'hub') {
        keepHub();
        out.conflicts.push(rec({ kind, ...nodeLoses, result: hubV, rule: 'custom resolver: the hub\'s value', policy, status: 'auto' }));
      } else if ('take' in decision) {
        if (!incomingWon) write(nodeV);
        out.conflicts.push(rec({ kind, ...hubLoses, result: nodeV, rule: 'custom resolver: the node\'s value', policy, status: 'auto' }));
      } else if ('values' in decision) {
        const v = Object.hasOwn(decision.values, c) ? decision.values[c]! : hubV;
        if (Object.hasOwn(decision.values, c)) write(v);
        else keepHub();
        // Both sides gave way to the resolver's value: both are recorded.
        out.conflicts.push(rec({ kind, ...nodeLoses, kept: v, keptOrigin: null, result: v, rule: 'custom resolver: new value', policy, status: 'auto' }));
        out.conflicts.push(rec({ kind, ...hubLoses, kept: v, keptOrigin: null, result: v, rule: 'custom resolver: new value', policy, status: 'auto' }));
      }
    } else if (incomingWon) {
      out.conflicts.push(rec({ kind, ...hubLoses, result: nodeV, rule: kind === 'row' ? 'lww: the newer row wins' : 'merge: the newer write wins', policy, status: 'auto' }));
    } else {
      out.conflicts.push(rec({ kind, ...nodeLoses, result: hubV, rule: lostBy.get(c)!.rule, policy, status: 'auto' }));
      out.restate = true;
    }
  }
  // Conflicts of the stamps not contested here (none today; kept for safety).
  for (const c of base.conflicts.filter(notKey(table))) if (c.column === null || !contested.includes(c.column)) out.conflicts.push(rec({ ...c, lostOrigin: ctx.origin, kept: undefined, keptOrigin: stampOrigin(c.winnerHlc), result: undefined, policy: table.policy, status: 'auto' }));

  // What the row gets: the node's winning columns under their stamps, and the hub's own new values under a fresh stamp.
  const hubChange = Object.keys(fresh).length ? { table: change.table, pk: change.pk, op: 'U' as const, hlc: ctx.tick(), cols: fresh } : null;
  if (hubChange) {
    for (const c of Object.keys(fresh)) metaNext.colHlc[c] = hubChange.hlc;
    out.hubChanges.push(hubChange);
  }
  for (const [c, h] of Object.entries(metaNext.colHlc)) if (h === metaNext.hlc) delete metaNext.colHlc[c];
  out.meta = metaNext;
  const values: RowValues = { ...Object.fromEntries([...won].map(([c, [v]]) => [c, v])), ...fresh };
  out.action = Object.keys(values).length ? { kind: 'update', cols: values } : { kind: 'none' };
  out.accepted = acceptedOf(change, won);
  return out;
}

/** The node's change as far as it won: its winning columns under their own stamps (null: nothing won). */
function acceptedOf(change: Change, won: Map<string, [WireValue, string]>): Change | null {
  if (won.size === 0) return null;
  let top = '';
  for (const [, [, h]] of won) if (h > top) top = h;
  const accepted: Change = { table: change.table, pk: change.pk, op: 'U', hlc: top, cols: Object.fromEntries([...won].map(([c, [v]]) => [c, v])) };
  const colHlc = Object.fromEntries([...won].filter(([, [, h]]) => h !== top).map(([c, [, h]]) => [c, h]));
  if (Object.keys(colHlc).length) accepted.colHlc = colHlc;
  return accepted;
}

type Rec = (c: Omit<HubConflict, 'incoming' | 'base'> & { base?: HubConflict['base'] }) => HubConflict;

/** The node deletes a row. */
async function deleteOfRow(meta: RowMeta | undefined, change: Change, table: TableSchema, ctx: ArbiterContext, base: Resolution, out: HubResolution, rec: Rec): Promise<HubResolution> {
  if (!meta?.exists || base.action.kind !== 'delete') {
    // Nothing to delete, or an insert newer than the delete keeps the row.
    out.conflicts = base.conflicts.filter(notKey(table)).map((c) => rec({ ...c, lostOrigin: ctx.origin, kept: undefined, keptOrigin: stampOrigin(c.winnerHlc), result: undefined, policy: 'delete-wins', status: 'auto' }));
    return out;
  }
  // Columns changed concurrently: by others since the node's cursor, or stamped after the delete.
  const updated = new Set([...(ctx.concurrent?.cols.keys() ?? [])]);
  for (const [c, h] of Object.entries(meta.colHlc)) if (h > change.hlc) updated.add(c);
  if (updated.size === 0) return out;
  const cols = [...updated].sort();
  const rule = table.onDelete ?? 'delete-wins';
  const hubRow = (await ctx.hubRow()) ?? {};
  const stamps = Object.fromEntries(cols.map((c) => [c, columnStamp(meta, c)]));
  let decision: 'delete' | 'keep' | 'open' | RowValues = rule === 'delete-wins' ? 'delete' : rule === 'update-wins' ? 'keep' : 'open';
  let why = rule === 'delete-wins' ? 'delete-wins: the delete wins over a concurrent update' : rule === 'update-wins' ? 'update-wins: the updated row stays' : 'manual: the hub keeps the row until an admin decides';
  if (cols.some((c) => columnPolicy(table, c) === 'custom')) {
    const d = await decide(ctx, { table: table.name, pk: change.pk, kind: 'delete-updated', columns: cols, hub: { values: pick(hubRow, cols), stamps }, node: { values: null, stamps: {}, origin: ctx.origin }, base: await ctx.base() });
    if ('manual' in d) (decision = 'open'), (why = `custom resolver: ${d.reason ?? 'left to an admin'}`);
    else if ('take' in d) (decision = d.take === 'node' ? 'delete' : 'keep'), (why = `custom resolver: the ${d.take === 'node' ? 'delete' : 'updated row'} wins`);
    else (decision = d.values), (why = 'custom resolver: new values');
  }
  const policy = cols.some((c) => columnPolicy(table, c) === 'custom') ? 'custom' : rule;
  if (decision === 'delete') {
    for (const c of cols) {
      out.conflicts.push(rec({ kind: 'delete-updated', column: c, lost: hubRow[c] ?? null, lostHlc: stamps[c]!, lostOrigin: stampOrigin(stamps[c]!), kept: undefined, winnerHlc: change.hlc, keptOrigin: ctx.origin, result: undefined, rule: why, policy, status: 'auto' }));
    }
    return out;
  }
  // The row stays (with new values, if a resolver gave them): the delete is what is recorded as lost.
  const keep: HubResolution = { action: { kind: 'none' }, meta, accepted: null, conflicts: [], hubChanges: [], restate: true };
  const values = typeof decision === 'object' ? decision : null;
  if (values && Object.keys(values).length) {
    const hlc = ctx.tick();
    keep.hubChanges.push({ table: change.table, pk: change.pk, op: 'U', hlc, cols: values });
    keep.action = { kind: 'update', cols: values };
    keep.meta = { ...meta, colHlc: { ...meta.colHlc, ...Object.fromEntries(Object.keys(values).map((c) => [c, hlc])) } };
  }
  keep.conflicts.push(rec({
    kind: 'delete-updated', column: null, lost: undefined, lostHlc: change.hlc, lostOrigin: ctx.origin,
    kept: pick(hubRow, cols), winnerHlc: cols.map((c) => stamps[c]!).sort().at(-1)!, keptOrigin: stampOrigin(stamps[cols[0]!]!),
    result: values ?? pick(hubRow, cols), rule: why, policy, status: decision === 'open' ? 'open' : 'auto',
  }));
  return keep;
}

/** The node updates a row the hub has deleted meanwhile. */
async function updateOfDeleted(meta: RowMeta, change: Change, table: TableSchema, ctx: ArbiterContext, base: Resolution, out: HubResolution, rec: Rec): Promise<HubResolution> {
  const cols = change.cols ?? {};
  const names = Object.keys(cols);
  const rule = table.onDelete ?? 'delete-wins';
  let decision: 'delete' | 'revive' | 'open' | RowValues = rule === 'delete-wins' ? 'delete' : rule === 'update-wins' ? 'revive' : 'open';
  let why = rule === 'delete-wins' ? 'delete-wins: the delete wins over a concurrent update' : rule === 'update-wins' ? 'update-wins: the row comes back with the update' : 'manual: the row stays deleted until an admin decides';
  const custom = names.some((c) => columnPolicy(table, c) === 'custom');
  if (custom) {
    const d = await decide(ctx, { table: table.name, pk: change.pk, kind: 'update-deleted', columns: names, hub: { values: null, stamps: {} }, node: { values: cols, stamps: Object.fromEntries(names.map((c) => [c, changeColumnStamp(change, c)])), origin: ctx.origin }, base: await ctx.base() });
    if ('manual' in d) (decision = 'open'), (why = `custom resolver: ${d.reason ?? 'left to an admin'}`);
    else if ('take' in d) (decision = d.take === 'node' ? 'revive' : 'delete'), (why = `custom resolver: the ${d.take === 'node' ? 'update' : 'delete'} wins`);
    else (decision = d.values), (why = 'custom resolver: the row comes back with new values');
  }
  const policy = custom ? 'custom' : rule;
  if (decision === 'delete') {
    out.conflicts = base.conflicts.filter(notKey(table)).map((c) => rec({ ...c, lostOrigin: ctx.origin, kept: undefined, keptOrigin: stampOrigin(meta.hlc), result: undefined, rule: why, policy, status: 'auto' }));
    return out;
  }
  const row = decision === 'open' ? null : await ctx.deletedRow();
  if (!row) {
    // Left to an admin, or the deleted row's other values are no longer known (purged): nothing is applied, nothing lost.
    const gone = decision !== 'open';
    out.conflicts = [rec({
      kind: 'update-deleted', column: null, lost: cols, lostHlc: change.hlc, lostOrigin: ctx.origin, kept: undefined, winnerHlc: meta.hlc, keptOrigin: stampOrigin(meta.hlc),
      result: undefined, rule: gone ? `${why}, but the deleted row's other values are purged: an admin decides` : why, policy, status: 'open',
    })];
    return out;
  }
  // The row comes back: its last values, the update (or the resolver's values) over them, under a fresh stamp above the delete's.
  const values: RowValues = { ...row, ...(typeof decision === 'object' ? decision : cols) };
  for (const k of table.primaryKey) delete values[k];
  table.primaryKey.forEach((k, i) => (values[k] = change.pk[i]!));
  const hlc = ctx.tick();
  const revived: Change = { table: change.table, pk: change.pk, op: 'I', hlc, cols: values };
  return {
    action: { kind: 'insert', cols: values },
    meta: { exists: true, hlc, colHlc: {} },
    accepted: null,
    hubChanges: [revived],
    restate: false,
    conflicts: [rec({ kind: 'update-deleted', column: null, lost: undefined, lostHlc: meta.hlc, lostOrigin: stampOrigin(meta.hlc), kept: cols, winnerHlc: change.hlc, keptOrigin: ctx.origin, result: values, rule: why, policy, status: 'auto' })],
  };
}

/** Ask the custom resolver; a resolver that throws or answers nonsense leaves the conflict to an admin. */
async function decide(ctx: ArbiterContext, conflict: CustomConflict): Promise<CustomDecision> {
  if (!ctx.custom) return { manual: true, reason: 'no resolver is loaded' };
  try {
    const d = await ctx.custom(conflict);
    if (d && typeof d === 'object') {
      if ('take' in d && (d.take === 'hub' || d.take === 'node')) return d;
      if ('manual' in d && d.manual === true) return d;
      if ('values' in d && d.values && typeof d.values === 'object' && !Array.isArray(d.values)) {
        const bad = Object.keys(d.values).find((k) => !conflict.columns.includes(k));
        if (bad) return { manual: true, reason: `the resolver set ${bad}, which is not a contested column` };
        const unfit = ctx.check(d.values);
        return unfit ? { manual: true, reason: `the resolver's values cannot be written: ${unfit}` } : d;
      }
    }
    return { manual: true, reason: `the resolver answered ${JSON.stringify(d)?.slice(0, 200)}` };
  } catch (e) {
    return { manual: true, reason: `the resolver failed: ${(e as Error).message}` };
  }
}

/** A key column's "loss" loses nothing: both sides have the same key. */
const notKey = (table: TableSchema) => (c: Conflict): boolean => c.column === null || !table.primaryKey.includes(c.column);

function sameValue(a: WireValue | undefined, b: WireValue | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function pick(row: RowValues, cols: readonly string[]): RowValues {
  return Object.fromEntries(cols.filter((c) => Object.hasOwn(row, c)).map((c) => [c, row[c]!]));
}
