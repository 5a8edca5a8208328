import { OutpostError, pkKey, type Change, type TableSchema, type WireValue } from '../protocol/index.ts';
import { stampOrigin, type Conflict, type HubConflict, type RowValues } from '../engine/index.ts';
import type { ConflictEntry, ConflictRecord, Tx } from '../adapters/adapter.ts';
import { valuesBeforeDelete } from './arbiter.ts';
import { validatePushedChange } from './validate-change.ts';

/** How an admin settles an open conflict. */
export type ConflictDecision = { take: 'hub' } | { take: 'node' } | { set: RowValues };

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

/**
 * A decided conflict as the hub stores it. A conflict the stamps or the
 * counters decided without the hub's policies (a plain `Conflict`) lost on
 * the side of the pushing node.
 */
export function conflictRecord(change: Change, conflict: Conflict | HubConflict, origin: string): ConflictRecord {
  const c: HubConflict = 'lostOrigin' in conflict ? (conflict as HubConflict) : {
    ...conflict, lostOrigin: origin, kept: undefined, keptOrigin: stampOrigin(conflict.winnerHlc), result: undefined,
    policy: conflict.lost && typeof conflict.lost === 'object' && 'delta' in conflict.lost ? 'counter' : 'merge', status: 'auto', incoming: change, base: undefined,
  };
  return {
    table: change.table, pk: pkKey(change.pk), kind: c.kind, column: c.column,
    lost: json(c.lost), lostHlc: c.lostHlc, winnerHlc: c.winnerHlc, origin: c.lostOrigin, rule: c.rule,
    status: c.status, policy: c.policy, kept: json(c.kept), winnerOrigin: c.keptOrigin, base: json(c.base),
    result: json(c.result), incoming: JSON.stringify(c.incoming),
  };
}

/** A conflict as the API and `outpost conflicts --json` show it (JSON columns parsed). */
export interface ConflictView {
  id: number;
  at: string;
  table: string;
  pk: WireValue[];
  kind: string;
  column: string | null;
  status: ConflictEntry['status'];
  policy: string | null;
  rule: string;
  /** the side that lost (or, while open, waits): its value and who wrote it (null: the hub) */
  lost: { value: unknown; hlc: string; origin: string | null };
  /** the side that won (or, while open, holds): its value and who wrote it */
  kept: { value: unknown; hlc: string; origin: string | null };
  /** the value before both writes, where the hub's log still had it (null: not known) */
  base: { value: unknown } | null;
  result: unknown;
  incoming: Change | null;
  resolved: { at: string; by: string; resolution: unknown } | null;
}

const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

export function conflictView(e: ConflictEntry): ConflictView {
  return {
    id: e.id, at: new Date(e.at).toISOString(), table: e.table, pk: JSON.parse(e.pk) as WireValue[], kind: e.kind, column: e.column,
    status: e.status, policy: e.policy ?? null, rule: e.rule,
    lost: { value: parse(e.lost), hlc: e.lostHlc, origin: e.origin },
    kept: { value: parse(e.kept ?? null), hlc: e.winnerHlc, origin: e.winnerOrigin ?? null },
    base: e.base === null || e.base === undefined ? null : { value: JSON.parse(e.base) as unknown }, result: parse(e.result ?? null), incoming: parse(e.incoming ?? null) as Change | null,
    resolved: e.resolvedAt === null ? null : { at: new Date(e.resolvedAt).toISOString(), by: e.resolvedBy ?? '', resolution: parse(e.resolution) },
  };
}

/**
 * The change that carries out an admin's decision on an open conflict,
 * stamped `hlc` (a fresh hub stamp, above both sides'), so that it wins
 * everywhere like any newer write. Throws a 4xx OutpostError when the
 * decision cannot be carried out (a value that does not fit its column, a
 * deleted row that cannot be brought back without values).
 */
export async function resolutionChange(tx: Tx, table: TableSchema, e: ConflictEntry, decision: ConflictDecision, hlc: string): Promise<Change> {
  const pk = JSON.parse(e.pk) as WireValue[];
  const current = (await tx.getRows(table, [pk])).get(e.pk);
  const incoming = parse(e.incoming ?? null) as Change | null;
  const columns = e.column ? [e.column] : Object.keys(incoming?.cols ?? {}).filter((c) => !table.primaryKey.includes(c));
  let change: Change;
  if ('set' in decision) {
    change = current ? { table: table.name, pk, op: 'U', hlc, cols: decision.set } : { table: table.name, pk, op: 'I', hlc, cols: { ...decision.set, ...keyValues(table, pk) } };
  } else if (decision.take === 'hub') {
    // The hub's side stands; written again, so every replica holds it under one stamp.
    const cols = current ? pick(current, columns.length ? columns : nonKey(table, current)) : {};
    change = current ? { table: table.name, pk, op: 'U', hlc, cols } : { table: table.name, pk, op: 'D', hlc };
    if (current && Object.keys(cols).length === 0) change = { table: table.name, pk, op: 'I', hlc, cols: current };
  } else {
    if (!incoming) throw new OutpostError('BAD_REQUEST', `conflict ${e.id} does not hold the node's change; use --set`);
    if (incoming.op === 'D') change = { table: table.name, pk, op: 'D', hlc };
    else if (current) change = { table: table.name, pk, op: 'U', hlc, cols: pick(incoming.cols ?? {}, columns) };
    else {
      // The row is deleted at the hub: it comes back with its last values and the node's.
      const before = valuesBeforeDelete(await tx.readRowLog(table.name, e.pk, { limit: 10_000 }));
      if (!before) throw new OutpostError('BAD_REQUEST', `the row of conflict ${e.id} is deleted at the hub and its other values are no longer in the change log; give them with --set col=value`);
      change = { table: table.name, pk, op: 'I', hlc, cols: { ...before, ...(incoming.cols ?? {}), ...keyValues(table, pk) } };
    }
  }
  if (change.op !== 'D') {
    if (Object.keys(change.cols ?? {}).length === 0) throw new OutpostError('BAD_REQUEST', `nothing to write for conflict ${e.id}`);
    validatePushedChange(change, new Map([[table.name, table]]));
  }
  return change;
}

function keyValues(table: TableSchema, pk: readonly WireValue[]): RowValues {
  return Object.fromEntries(table.primaryKey.map((k, i) => [k, pk[i]!]));
}

function nonKey(table: TableSchema, row: RowValues): string[] {
  return Object.keys(row).filter((c) => !table.primaryKey.includes(c));
}

function pick(row: RowValues, cols: readonly string[]): RowValues {
  return Object.fromEntries(cols.filter((c) => Object.hasOwn(row, c)).map((c) => [c, row[c]!]));
}

/**
 * Parse `col=value` pairs of `--set` for a table: each value is JSON when it
 * reads as JSON (5, 2.5, true, null, "text"), otherwise the text as it is.
 */
export function parseSetPairs(table: TableSchema, pairs: readonly string[]): RowValues {
  const out: RowValues = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new OutpostError('BAD_REQUEST', `--set takes col=value, not ${JSON.stringify(p)}`);
    const col = p.slice(0, i);
    if (!table.columns.some((c) => c.name === col)) throw new OutpostError('UNKNOWN_COLUMN', `table ${table.name} has no column ${JSON.stringify(col)}`);
    if (table.primaryKey.includes(col)) throw new OutpostError('BAD_REQUEST', `--set cannot change the key column ${col}`);
    const raw = p.slice(i + 1);
    let v: WireValue;
    try {
      const parsed: unknown = JSON.parse(raw);
      v = parsed === null || ['number', 'string', 'boolean'].includes(typeof parsed) ? (parsed as WireValue) : raw;
    } catch {
      v = raw;
    }
    // A text column takes the text as written (a serial "0042" stays "0042").
    const kind = table.columns.find((c) => c.name === col)!.kind;
    if (typeof v !== 'string' && v !== null && ['text', 'uuid', 'date', 'datetime', 'json', 'decimal'].includes(kind)) v = raw;
    out[col] = v;
  }
  return out;
}
