import { HlcClock, OutpostError, maxHlc, parseHlc, type WireValue } from '../protocol/index.ts';
import { readMetas, stampCaptured, WriteBatch, type CaptureRow, type RowMeta } from '../engine/index.ts';
import type { Tx } from '../adapters/adapter.ts';
import type { NodeContext } from './node-context.ts';
import { writeNodeState } from './node-state.ts';

/**
 * A node whose clock was far ahead of the hub's (CLOCK_AHEAD): its pending
 * changes carry stamps in the future, and its clock never goes back below
 * them, so the hub would refuse it until the world caught up. Those stamps
 * were never accepted anywhere (the hub refuses them), so the node may
 * replace them. docs/security.md explains the choice.
 */

/** `_outpost_state` key: the node's clock at the end of its last successful sync (every stamp it held then was accepted by the hub). */
export const CLOCK_OK = 'clock_ok';
/** `_outpost_state` key: the largest error (ms) of the node's wall clock measured by the hub's CLOCK_AHEAD answers since the last rebase. */
export const CLOCK_SKEW = 'clock_skew';

/** What a CLOCK_AHEAD problem carries (hub.ts `#checkAhead`). */
export interface ClockAheadDetails {
  hubTimeMs: number;
  maxAheadMs: number;
  hubClock: string;
}

export function clockAheadDetails(e: OutpostError): ClockAheadDetails | null {
  const d = e.details ?? {};
  const { hubTimeMs, maxAheadMs, hubClock } = d as Record<string, unknown>;
  if (typeof hubTimeMs !== 'number' || typeof maxAheadMs !== 'number' || typeof hubClock !== 'string') return null;
  try {
    parseHlc(hubClock);
  } catch {
    return null;
  }
  return { hubTimeMs, maxAheadMs, hubClock };
}

/** Remember the wall clock's error measured against the hub (the largest since the last rebase). */
export async function recordSkew(tx: Tx, skewMs: number): Promise<void> {
  const had = Number((await tx.getState(CLOCK_SKEW)) ?? 0);
  if (skewMs > had) await tx.setState(CLOCK_SKEW, String(Math.round(skewMs)));
}

/**
 * Re-stamp the pending changes whose stamps are beyond what the hub accepts
 * (`hubTimeMs + maxAheadMs`), in their stamp order, and the row stamps that
 * carry them; the node's clock starts again below the bound. A new stamp is
 * the old one moved back by the clock error the hub measured while the
 * clock was wrong (`clock_skew`), never later than the hub's time and never
 * below what the node held at its last successful sync (`clock_ok`, so an
 * edit still sorts after the versions it edited); with no measured error it
 * is just above `clock_ok`: the change then counts as made right after the
 * node's last sync, and loses to a concurrent edit made since (which the hub
 * records in its conflict log with both sides). Nothing is deleted.
 * Returns the number of capture rows re-stamped; `ctx.clock` is replaced.
 */
export async function rebaseClock(ctx: NodeContext, acked: number, hub: ClockAheadDetails, now: () => number): Promise<number> {
  const bound = hub.hubTimeMs + hub.maxAheadMs;
  const ahead = (stamp: string): boolean => parseHlc(stamp).wall > bound;
  return ctx.db.write(async (tx) => {
    // Stamp what is pending first (with the old clock: rebased below like the rest).
    await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
    const pending: CaptureRow[] = [];
    for (let after = acked; ;) {
      const rows = await tx.readCapture({ afterSeq: after, limit: 5000 });
      if (rows.length === 0) break;
      pending.push(...rows);
      after = rows[rows.length - 1]!.seq!;
    }
    const ok = await tx.getState(CLOCK_OK);
    let seed = ok && !ahead(ok) ? ok : hub.hubClock;
    for (const r of pending) if (r.hlc && !ahead(r.hlc)) seed = maxHlc(seed, r.hlc);
    const skew = Number((await tx.getState(CLOCK_SKEW)) ?? 0);
    const clock = new HlcClock(ctx.nodeId, now, relabel(seed, ctx.nodeId));
    const moved = new Map<string, string>();
    const next = (old: string): string => {
      let n = moved.get(old);
      if (!n) {
        // tick() never goes below the clock, so order is kept and every new stamp is above the seed.
        n = clock.tick(skew > 0 ? Math.min(parseHlc(old).wall - skew, hub.hubTimeMs) : 0);
        moved.set(old, n);
      }
      return n;
    };
    const restamped = pending.filter((r) => r.hlc && ahead(r.hlc));
    for (const r of restamped) next(r.hlc!);
    if (restamped.length) await tx.setCaptureStamps(restamped.map((r) => ({ id: r.id, hlc: moved.get(r.hlc!)!, seq: r.seq! })));
    // The row stamps of every pending row: each stamp beyond the bound is one of those just moved.
    const rows = pending.filter((r) => ctx.catalogue.has(r.table)).map((r) => ({ table: r.table, pk: JSON.parse(r.pk) as WireValue[] }));
    const metas = await readMetas(tx, rows);
    const batch = new WriteBatch(tx);
    for (const [table, byKey] of metas) {
      for (const [key, meta] of byKey) {
        const fixed = fixMeta(meta, ahead, next);
        if (fixed) batch.putMeta(table, key, fixed);
      }
    }
    await batch.flush();
    ctx.clock = new HlcClock(ctx.nodeId, now, clock.last);
    await writeNodeState(tx, { clock: ctx.clock.last });
    await tx.setState(CLOCK_SKEW, null);
    return restamped.length;
  });
}

function fixMeta(meta: RowMeta, ahead: (s: string) => boolean, next: (s: string) => string): RowMeta | null {
  let changed = false;
  const fix = (s: string): string => {
    if (!ahead(s)) return s;
    changed = true;
    return next(s);
  };
  const hlc = fix(meta.hlc);
  const colHlc = Object.fromEntries(Object.entries(meta.colHlc).map(([c, s]) => [c, fix(s)]));
  return changed ? { exists: meta.exists, hlc, colHlc } : null;
}

/** The same clock position under this node's id (the seed may be the hub's stamp). */
function relabel(stamp: string, node: string): string {
  // 15 digits, '-', 8 hex digits, '-': 25 characters, then the node id.
  return `${stamp.slice(0, 25)}${node}`;
}
