import Database from 'better-sqlite3';
import type { RowValues } from '../../src/engine/index.ts';
import { canonicalRows } from '../helpers/replicas.ts';
import { verifyNode } from '../../src/node/verify.ts';
import type { World } from './world.ts';
import { isMissingTable, nextWriteNumber, type WriteRecord } from './workload.ts';

/** Tables every node must hold exactly as the hub does (directions both and down). */
export const SYNCED_TABLES = ['labs', 'categories', 'items', 'stock_movements'];
/** After healing, the replicas must agree within this long (issue 5). */
export const CONVERGE_WITHIN_MS = 30_000;

/** What the oracle keeps while a run goes on: every committed write, every sync that ended well, the cursors seen. */
export class History {
  readonly writes: WriteRecord[] = [];
  /** per replica (0 = website), the steps at which a sync completed (for the website: any hub request) */
  readonly acks = new Map<number, number[]>();
  readonly failures: string[] = [];
  /** hub log entries read before purges removed them, by seq */
  readonly log = new Map<number, LogRow>();
  #cursors = new Map<string, number>();

  /** Keep the hub's whole log as it is now (before a purge). */
  async keepLog(world: World): Promise<void> {
    for (const e of await readLog(world)) this.log.set(e.seq, e);
  }

  ack(at: number, step: number): void {
    this.acks.set(at, [...(this.acks.get(at) ?? []), step]);
  }

  /** A cursor or acknowledgement that moves backwards is a failure. */
  cursor(name: string, value: number, step: number): void {
    const before = this.#cursors.get(name);
    if (before !== undefined && value < before) this.failures.push(`step ${step}: ${name} moved backwards (${before} -> ${value})`);
    this.#cursors.set(name, Math.max(before ?? value, value));
  }
}

/** Sample every cursor the run has: node cursors and acknowledgements, and the hub's view of each node. */
export async function sampleCursors(world: World, history: History, step: number): Promise<void> {
  for (const n of world.nodes) {
    const s = await n.inner.read(async (tx) => ({ cursor: Number((await tx.getState('cursor')) ?? 0), acked: Number((await tx.getState('acked')) ?? 0) }));
    history.cursor(`${n.name} cursor`, s.cursor, step);
    history.cursor(`${n.name} acked`, s.acked, step);
  }
  const nodes = await world.hubInner.read((tx) => tx.listNodes());
  for (const n of nodes) {
    history.cursor(`hub's acked_seq of ${n.name}`, n.ackedSeq, step);
    history.cursor(`hub's pulled_seq of ${n.name}`, n.pulledSeq, step);
  }
}

/** SQLite's own check of a file, after a crash. */
export function integrityOf(url: string): string {
  if (!url.startsWith('sqlite:')) return 'ok';
  const db = new Database(url.slice('sqlite:'.length), { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

async function tableRows(db: World['hubInner'], table: string): Promise<RowValues[]> {
  return canonicalRows(db, table);
}

/** The first difference between the hub and a node, or null when every synced table is equal. */
export async function difference(world: World): Promise<string | null> {
  const hub = new Map<string, string>();
  for (const t of SYNCED_TABLES) hub.set(t, JSON.stringify(await tableRows(world.hubInner, t)));
  for (const n of world.nodes) {
    for (const t of SYNCED_TABLES) {
      const mine = JSON.stringify(await tableRows(n.inner, t));
      if (mine !== hub.get(t)) return `${n.name} (${n.spec.dialect}) ${t} differs from the hub (${world.spec.hub}): ${firstDiff(hub.get(t)!, mine)}`;
    }
    const pending = await n.inner.read((tx) => tx.captureStats());
    if (pending.count > 0) return `${n.name} still has ${pending.count} captured changes`;
  }
  return null;
}

function firstDiff(a: string, b: string): string {
  const ra = JSON.parse(a) as RowValues[];
  const rb = JSON.parse(b) as RowValues[];
  if (ra.length !== rb.length) return `hub ${ra.length} rows, node ${rb.length}`;
  for (let i = 0; i < ra.length; i++) {
    const x = JSON.stringify(ra[i]);
    const y = JSON.stringify(rb[i]);
    if (x !== y) return `hub ${x} node ${y}`;
  }
  return 'same rows, different text';
}

/**
 * Heal every fault and sync every node in rounds until all replicas equal
 * the hub; fails if that takes longer than CONVERGE_WITHIN_MS. Returns how
 * long it took.
 */
export async function converge(world: World, history: History, step: number): Promise<number> {
  world.heal();
  const started = Date.now();
  let last: string | null = 'not synced yet';
  let lastError = '';
  for (let round = 0; Date.now() - started < CONVERGE_WITHIN_MS; round++) {
    for (const n of world.nodes) {
      try {
        await n.agent.sync();
        history.ack(n.index + 1, step);
      } catch (e) {
        lastError = `${n.name}: ${(e as Error).message}`;
      }
    }
    history.ack(0, step);
    if (round >= 1) {
      last = await difference(world);
      if (!last) return Date.now() - started;
    }
  }
  history.failures.push(`no convergence within ${CONVERGE_WITHIN_MS / 1000} s of healing: ${last}${lastError ? `; last sync error ${lastError}` : ''}`);
  return Date.now() - started;
}

async function readLog(world: World): Promise<LogRow[]> {
  const rows = await world.web.query<LogRow>('SELECT seq, tbl, pk, op, hlc, cols, origin FROM _outpost_log ORDER BY seq');
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

interface LogRow { seq: number; tbl: string; pk: string; op: string; hlc: string; cols: string | null; origin: string | null }
interface ConflictRow { tbl: string; pk: string; kind: string; col: string | null; lost: string | null; lost_hlc: string; origin: string | null }

/** Numbers and decimals compare by value, everything else by its JSON. */
const same = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  const na = typeof a === 'string' || typeof a === 'number' ? Number(a) : NaN;
  const nb = typeof b === 'string' || typeof b === 'number' ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb) && (typeof a === 'number' || typeof b === 'number' || /^-?\d+(\.\d+)?$/.test(String(a)))) return na === nb;
  return JSON.stringify(a) === JSON.stringify(b);
};

/**
 * After convergence: nothing applied twice, and every acknowledged write is
 * at the hub — in its change log (then possibly overwritten by a later
 * entry) or in its conflict log as the side that lost. A write its own
 * replica replaced before any sync acknowledged it never left the replica,
 * and needs neither.
 */
export async function checkHistory(world: World, history: History): Promise<void> {
  await history.keepLog(world);
  const log = [...history.log.values()].sort((a, b) => a.seq - b.seq);
  const conflicts = await world.web.query<ConflictRow>('SELECT tbl, pk, kind, col, lost, lost_hlc, origin FROM _outpost_conflicts');
  const f = history.failures;

  // Nothing applied twice: a change (origin, row, stamp) is logged once; restatements (R/X) repeat by design.
  const seen = new Set<string>();
  for (const e of log) {
    if (e.op === 'R' || e.op === 'X') continue;
    const k = `${e.origin}|${e.tbl}|${e.pk}|${e.op}|${e.hlc}`;
    if (seen.has(k)) f.push(`applied twice: log entry ${e.seq} ${e.op} ${e.tbl} ${e.pk} ${e.hlc} from ${e.origin ?? 'the website'}`);
    seen.add(k);
  }
  const seenConflicts = new Set<string>();
  for (const c of conflicts) {
    const k = `${c.origin}|${c.tbl}|${c.pk}|${c.kind}|${c.col}|${c.lost_hlc}`;
    if (seenConflicts.has(k)) f.push(`conflict recorded twice: ${k}`);
    seenConflicts.add(k);
  }

  const originOf = new Map<number, string | null>([[0, null], ...world.nodes.map((n) => [n.index + 1, n.id] as [number, string])]);
  const byCell = new Map<string, WriteRecord[]>();
  for (const w of history.writes) {
    const k = `${w.at}|${w.table}|${w.pk}`;
    byCell.set(k, [...(byCell.get(k) ?? []), w]);
  }
  const logBy = new Map<string, LogRow[]>();
  for (const e of log) logBy.set(`${e.origin}|${e.tbl}|${e.pk}`, [...(logBy.get(`${e.origin}|${e.tbl}|${e.pk}`) ?? []), e]);
  const conflictBy = new Map<string, ConflictRow[]>();
  for (const c of conflicts) conflictBy.set(`${c.origin}|${c.tbl}|${c.pk}`, [...(conflictBy.get(`${c.origin}|${c.tbl}|${c.pk}`) ?? []), c]);

  for (const w of history.writes) {
    if (w.behind) continue;
    // The first sync of this replica that completed after the write.
    const ackStep = (history.acks.get(w.at) ?? []).find((s) => s > w.step);
    if (ackStep === undefined) {
      f.push(`write never acknowledged: step ${w.step} at ${w.at} ${w.table} ${w.pk} ${w.col}`);
      continue;
    }
    // Replaced on its own replica before it could leave: a later write of the same cell, or of the whole row.
    const replaced = (byCell.get(`${w.at}|${w.table}|${w.pk}`) ?? []).some((o) => o.n > w.n && o.step < ackStep && (o.col === null || w.col === null || o.col === w.col));
    if (replaced) continue;
    if (w.col === null) {
      // A row created and deleted with no sync completed in between may never have left its replica.
      const created = (byCell.get(`${w.at}|${w.table}|${w.pk}`) ?? []).filter((o) => o.n < w.n && o.col !== null).at(-1);
      if (created && !(history.acks.get(w.at) ?? []).some((s) => s > created.step && s < w.step)) continue;
    }
    const origin = originOf.get(w.at) ?? null;
    const entries = logBy.get(`${origin}|${w.table}|${w.pk}`) ?? [];
    const inLog = w.col === null
      ? entries.some((e) => e.op === 'D')
      : entries.some((e) => e.op !== 'D' && e.cols !== null && w.col! in JSON.parse(e.cols) && same((JSON.parse(e.cols) as Record<string, unknown>)[w.col!], w.value));
    if (inLog) continue;
    const lost = (conflictBy.get(`${origin}|${w.table}|${w.pk}`) ?? []).some((c) =>
      w.col === null
        ? c.kind === 'stale-delete'
        : (c.col === null && (c.kind === 'stale-insert' || c.kind === 'row')) || (c.col === w.col && c.lost !== null && same(JSON.parse(c.lost), w.value)));
    if (lost) continue;
    f.push(`lost write: step ${w.step} by ${w.at === 0 ? 'the website' : `lab-${w.at}`}: ${w.table} ${w.pk} ${w.col === null ? 'DELETE' : `${w.col} = ${JSON.stringify(w.value)}`} is neither in the hub's log nor in its conflict log`);
  }
}

/** Change one item's notes on a lab in an echo-suppressed write: nothing is captured, the lab silently differs. */
export async function tamper(world: World, history: History, index: number, pick: number, step: number): Promise<boolean> {
  const n = world.nodes[index]!;
  const items = world.hub.catalogue.byName.get('items')!;
  const ids = (await n.app.query<{ id: string }>('SELECT id FROM items ORDER BY id').catch((e: unknown) => { if (isMissingTable(e)) return []; throw e; })).map((r) => r.id);
  if (!ids.length) return false;
  const id = ids[pick % ids.length]!;
  const notes = `tampered at step ${step}`;
  await n.inner.write((tx) => tx.updateRow(items, [id], { notes }));
  // It replaces what the lab's app wrote there (a change not pushed yet then carries it).
  history.writes.push({ step, n: nextWriteNumber(), at: index + 1, table: 'items', pk: JSON.stringify([id]), col: 'notes', value: notes, behind: true });
  return true;
}

/** `outpost verify --repair` on a tampered lab: after it, verify finds nothing. */
export async function repair(world: World, index: number, history: History): Promise<void> {
  const n = world.nodes[index]!;
  try {
    const fixed = await verifyNode(n.inner, { repair: true });
    const again = await verifyNode(n.inner, { sync: false });
    if (!again.equal) history.failures.push(`${n.name}: verify --repair left ${again.remaining} differences (${again.inFlight} in flight); it had repaired ${fixed.repaired}`);
  } catch (e) {
    history.failures.push(`${n.name}: verify --repair failed: ${(e as Error).message}`);
  }
}

/** After convergence, verify must see every lab equal to the hub, as the byte comparison did. */
export async function verifyAll(world: World, history: History): Promise<void> {
  for (const n of world.nodes) {
    const r = await verifyNode(n.inner, { sync: false });
    if (!r.equal) history.failures.push(`${n.name}: verify reports ${r.remaining} differences and ${r.inFlight} in flight after convergence: ${JSON.stringify(r.tables.flatMap((t) => t.differences).slice(0, 3))}`);
  }
}
