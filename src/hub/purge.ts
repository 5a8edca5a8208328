import type { Adapter, NodeRecord } from '../adapters/adapter.ts';
import type { HubConfig } from './config.ts';

/** What one purge removed, and why it stopped where it did. */
export interface PurgeResult {
  /** log entries with seq at or below this are gone (or never existed); a node whose cursor is below it takes a fresh snapshot */
  purgedThrough: number;
  /** the newest stamp of a delete purged so far (nodes drop their own markers up to it) */
  purgedHlc: string | null;
  /** log entries, delete markers and staged push pages removed by this purge */
  log: number;
  markers: number;
  staged: number;
  /** nodes seen within the horizon (their cursors bound the purge), and joined nodes that were not */
  live: string[];
  expired: string[];
}

/** State keys the purge keeps in `_outpost_state`. */
export const PURGED_THROUGH = 'purged_through';
export const PURGED_HLC = 'purged_hlc';

/** Log entries per purge transaction, so a first purge of a long log does not hold the commit lock for long. */
const WINDOW = 5000;

/** Joined, not revoked, and seen (or joined) within the horizon. */
export function isLive(n: NodeRecord, now: number, horizonMs: number): boolean {
  if (n.revokedAt !== null || n.joinedAt === null) return false;
  return (n.lastSeen ?? n.joinedAt) >= now - horizonMs;
}

/**
 * Purge the hub's change log and delete markers up to the lowest pull cursor
 * of the live nodes (every entry there at or below has been handed to each of
 * them, and a node pushes before it pulls, so it has uploaded what it wrote
 * before seeing them). Without live nodes, up to the head. The newest entry is
 * always kept (its seq is the log's head). A delete marker goes with the log
 * entry that logged its delete (same row, same stamp). Staged pages of push
 * groups of revoked or expired nodes go too. Conflicts are never purged.
 */
export async function purgeHub(db: Adapter, retention: HubConfig['retention'], now: number): Promise<PurgeResult> {
  const { nodes, head, from, hlc } = await db.read(async (tx) => ({
    nodes: await tx.listNodes(),
    head: await tx.maxLogSeq(),
    from: Number((await tx.getState(PURGED_THROUGH)) ?? 0),
    hlc: await tx.getState(PURGED_HLC),
  }));
  const horizonMs = retention.horizonSeconds * 1000;
  const live = nodes.filter((n) => isLive(n, now, horizonMs));
  const through = Math.min(head, live.length ? Math.min(...live.map((n) => n.pulledSeq)) : head);
  const result: PurgeResult = {
    purgedThrough: Math.max(from, through), purgedHlc: hlc, log: 0, markers: 0, staged: 0,
    live: live.map((n) => n.name), expired: nodes.filter((n) => n.joinedAt !== null && n.revokedAt === null && !isLive(n, now, horizonMs)).map((n) => n.name),
  };
  for (let lo = from; lo < through; lo += WINDOW) {
    const hi = Math.min(through, lo + WINDOW);
    await db.write(async (tx) => {
      const deletes = await tx.readLogDeletes(lo, hi);
      result.markers += await tx.deleteMarkers(deletes);
      result.log += await tx.deleteLogThrough(hi);
      for (const d of deletes) if (result.purgedHlc === null || d.hlc > result.purgedHlc) result.purgedHlc = d.hlc;
      // Another hub process may have purged further meanwhile: never move back.
      const done = Number((await tx.getState(PURGED_THROUGH)) ?? 0);
      const known = await tx.getState(PURGED_HLC);
      await tx.setState(PURGED_THROUGH, String(Math.max(done, hi)));
      if (result.purgedHlc !== null && (known === null || result.purgedHlc > known)) await tx.setState(PURGED_HLC, result.purgedHlc);
      else result.purgedHlc = known;
    });
  }
  const gone = nodes.filter((n) => n.revokedAt !== null || (n.joinedAt !== null && !isLive(n, now, horizonMs)));
  if (gone.length) {
    await db.write(async (tx) => {
      // An abandoned multi-page group: the node starts it again from page 0 when it returns.
      for (const n of gone) result.staged += await tx.clearStaged(n.id);
    });
  }
  return result;
}
