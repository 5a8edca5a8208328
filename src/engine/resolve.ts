import type { Change, Policy, WireValue } from '../protocol/index.ts';
import { columnStamp, newestStamp, type RowMeta } from './row-meta.ts';

/** What the applier must do to the table row. */
export type RowAction =
  | { kind: 'none' }
  | { kind: 'insert'; cols: Record<string, WireValue> }
  | { kind: 'update'; cols: Record<string, WireValue> }
  | { kind: 'delete' };

export type ConflictKind = 'column' | 'row' | 'update-deleted' | 'update-missing' | 'delete-updated' | 'stale-delete' | 'stale-insert';

/** A write that lost, kept so that nothing is dropped silently. */
export interface Conflict {
  kind: ConflictKind;
  column: string | null;
  /** the losing value (a row's values for some row-level conflicts; a counter's delta as `{ delta }`; undefined for a delete) */
  lost: WireValue | Record<string, WireValue> | { delta: number } | undefined;
  lostHlc: string;
  winnerHlc: string;
  rule: string;
}

export interface Resolution {
  action: RowAction;
  /** the row's stamps afterwards; undefined: leave them as they are (none) */
  meta: RowMeta | undefined;
  /** the part of the change that won, as it goes into the change log; null if nothing did */
  accepted: Change | null;
  conflicts: Conflict[];
}

export function changeColumnStamp(change: Change, column: string): string {
  return change.colHlc?.[column] ?? change.hlc;
}

/** The newest stamp a change carries (an insert's row stamp may be older than its columns'). */
export function newestChangeStamp(change: Change): string {
  let h = change.hlc;
  for (const v of Object.values(change.colHlc ?? {})) if (v > h) h = v;
  return h;
}

/**
 * Decide what an incoming change does to a row, given what the replica knows
 * of it. Pure and deterministic: every replica that sees the same changes in
 * any order ends with the same row (the stamps are a total order).
 *
 * - Columns: the higher stamp wins (`merge`, per column), or the whole change
 *   wins or loses by its newest stamp against the row's newest (`lww`; its
 *   sources send whole rows, which keeps the outcome independent of order).
 * - Deletes win against concurrent column updates; an insert newer than the
 *   delete brings the row back.
 */
export function resolveChange(meta: RowMeta | undefined, change: Change, policy: Policy): Resolution {
  const none = (m: RowMeta | undefined, conflicts: Conflict[] = []): Resolution => ({
    action: { kind: 'none' },
    meta: m ?? { exists: false, hlc: change.hlc, colHlc: {} },
    accepted: null,
    conflicts,
  });

  if (change.op === 'D') {
    if (!meta) return { action: { kind: 'none' }, meta: { exists: false, hlc: change.hlc, colHlc: {} }, accepted: change, conflicts: [] };
    if (change.hlc <= meta.hlc) {
      if (change.hlc === meta.hlc) return none(meta);
      return none(meta, meta.exists ? [rowConflict('stale-delete', change.hlc, meta.hlc, 'an insert newer than the delete keeps the row')] : []);
    }
    const conflicts: Conflict[] = [];
    if (meta.exists) {
      for (const [col, h] of Object.entries(meta.colHlc)) {
        if (h > change.hlc) conflicts.push({ kind: 'delete-updated', column: col, lost: undefined, lostHlc: h, winnerHlc: change.hlc, rule: 'delete wins over a concurrent update' });
      }
    }
    return {
      action: meta.exists ? { kind: 'delete' } : { kind: 'none' },
      meta: { exists: false, hlc: change.hlc, colHlc: {} },
      accepted: change,
      conflicts,
    };
  }

  const cols = change.cols ?? {};
  if (!meta || !meta.exists) {
    if (change.op === 'U') {
      // The row is gone here (deleted, or never seen): the update cannot apply.
      const lost = Object.entries(cols).map(([c, v]) => ({
        kind: meta ? ('update-deleted' as const) : ('update-missing' as const),
        column: c,
        lost: v,
        lostHlc: changeColumnStamp(change, c),
        winnerHlc: meta?.hlc ?? change.hlc,
        rule: meta ? 'delete wins over a concurrent update' : 'the row does not exist here',
      }));
      // An update of a row never seen leaves no stamps behind (a later insert of it still applies).
      return meta ? none(meta, lost) : { action: { kind: 'none' }, meta: undefined, accepted: null, conflicts: lost };
    }
    if (meta && change.hlc <= meta.hlc) {
      return none(meta, change.hlc === meta.hlc ? [] : [rowConflict('stale-insert', change.hlc, meta.hlc, 'a delete newer than the insert keeps the row deleted')]);
    }
    const colHlc: Record<string, string> = {};
    for (const c of Object.keys(cols)) {
      const h = changeColumnStamp(change, c);
      if (h !== change.hlc) colHlc[c] = h;
    }
    return {
      action: { kind: 'insert', cols },
      meta: { exists: true, hlc: change.hlc, colHlc },
      accepted: { ...change, op: 'I' },
      conflicts: [],
    };
  }

  // The row exists: merge column by column (or as a whole for lww).
  const won: Record<string, WireValue> = {};
  const wonHlc: Record<string, string> = {};
  const conflicts: Conflict[] = [];
  const next: RowMeta = { exists: true, hlc: meta.hlc, colHlc: { ...meta.colHlc } };
  if (change.op === 'I' && change.hlc > meta.hlc) {
    // A newer insert of a live row moves the row stamp, so that an older
    // delete arriving later cannot remove it (as on a replica that saw the
    // delete first and then re-created the row). Columns keep their stamps.
    for (const c of Object.keys(cols)) if (!(c in next.colHlc)) next.colHlc[c] = meta.hlc;
    next.hlc = change.hlc;
  }
  const rowWins = policy === 'lww' ? newestChangeStamp(change) > newestStamp(meta) : false;
  for (const [c, v] of Object.entries(cols)) {
    const incoming = changeColumnStamp(change, c);
    const current = columnStamp(meta, c);
    const wins = policy === 'lww' ? rowWins : incoming > current;
    if (wins) {
      won[c] = v;
      wonHlc[c] = incoming;
      next.colHlc[c] = incoming;
    } else if (incoming !== current) {
      conflicts.push({
        kind: policy === 'lww' ? 'row' : 'column',
        column: c,
        lost: v,
        lostHlc: incoming,
        winnerHlc: current,
        rule: policy === 'lww' ? 'lww: the newer row wins' : 'merge: the newer column wins',
      });
    }
  }
  for (const [c, h] of Object.entries(next.colHlc)) if (h === next.hlc) delete next.colHlc[c];
  const names = Object.keys(won);
  if (names.length === 0) return { action: { kind: 'none' }, meta: next, accepted: null, conflicts };
  const top = names.reduce((h, c) => (wonHlc[c]! > h ? wonHlc[c]! : h), '');
  const colHlc: Record<string, string> = {};
  for (const c of names) if (wonHlc[c] !== top) colHlc[c] = wonHlc[c]!;
  const accepted: Change = { table: change.table, pk: change.pk, op: 'U', hlc: top, cols: won };
  if (Object.keys(colHlc).length) accepted.colHlc = colHlc;
  return { action: { kind: 'update', cols: won }, meta: next, accepted, conflicts };
}

function rowConflict(kind: ConflictKind, lostHlc: string, winnerHlc: string, rule: string): Conflict {
  return { kind, column: null, lost: undefined, lostHlc, winnerHlc, rule };
}
