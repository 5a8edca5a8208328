import { hostname } from 'node:os';
import { isOutpostError } from '../protocol/index.ts';
import type { Adapter, Tx } from '../adapters/adapter.ts';
import type { LiveStatus } from './live-client.ts';

/**
 * What a desktop app shows of a node's sync:
 * - `syncing`: a sync is under way (in this process, or in another process
 *   on this machine that is still alive, e.g. `outpost run`);
 * - `offline`: the last attempt failed because the hub could not be reached
 *   (HUB_UNREACHABLE: no connection, a timeout, a reply cut off) or was
 *   shutting down (SHUTTING_DOWN: it restarts);
 * - `error`: the last attempt failed otherwise (refused, schema mismatch,
 *   TLS, a local database error…); `lastAttempt.code` says which;
 * - `idle`: otherwise (the last attempt succeeded, or none was recorded).
 */
export type SyncState = 'offline' | 'syncing' | 'idle' | 'error';

/** The last sync attempt, as kept in the node's `_outpost_state` (`sync_attempt`). */
export interface SyncAttempt {
  at: string;
  ok: boolean;
  /** the OutpostError code of a failed attempt (INTERNAL for anything else) */
  code: string | null;
  message: string | null;
}

/** What the hub said of this node at the last successful sync (`GET /v1/status`, kept as `hub_view`). */
export interface HubView {
  at: string;
  logSeq: number;
  lag: number;
  /** open conflicts whose either side this node wrote; null from a hub that does not count them */
  conflictsOpen: number | null;
  /** this node's changes the hub quarantined and an admin has not settled */
  quarantineOpen: number | null;
}

/** The fields `outpost status --json` and the control endpoint's `GET /status` add to a node's status. */
export interface SyncStatusFields {
  state: SyncState;
  /** when the sync under way started (null unless syncing) */
  syncingSince: string | null;
  lastAttempt: SyncAttempt | null;
  /** the hub's log head minus this node's cursor, as of `hubContactAt` (null: not known yet) */
  lag: number | null;
  hubContactAt: string | null;
  /** open conflicts this node is a side of, as of `hubContactAt` */
  conflictsOpen: number | null;
  /** open quarantined changes: pulled ones this database refused, and this node's own the hub quarantined (as of `hubContactAt`; else the notices this node holds) */
  quarantined: { here: number; atHub: number | null };
  /** the next scheduled sync of a running `outpost run` (null: none running, or none due) */
  nextSyncAt: string | null;
  /** the WebSocket of a running live `outpost run` (null: none running live) */
  live: LiveStatus | null;
}

/** Failures that mean the hub is out of reach for now, not that something is wrong. */
const OFFLINE = new Set(['HUB_UNREACHABLE', 'SHUTTING_DOWN']);

const ATTEMPT = 'sync_attempt';
const LIVE = 'live_status';
const RUNNING = 'sync_running';
const HUB_VIEW = 'hub_view';
const NEXT = 'next_sync_at';

interface Running {
  since: number;
  pid: number;
  host: string;
}

function parse<T>(text: string | null): T | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** Whether a process that recorded itself is still there: on this machine, its pid alive; elsewhere, trusted. */
function alive(r: { pid: number; host: string }): boolean {
  if (r.host !== hostname()) return true;
  if (r.pid === process.pid) return true;
  try {
    process.kill(r.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One sync at a time per agent: a sync asked for while one runs joins it
 * (the same promise, the same summary or error). Each attempt is recorded in
 * the node's database, so that `outpost status` in another process sees it.
 */
export class SyncActivity<T> {
  readonly #db: Adapter;
  #running: Promise<T> | null = null;
  #since: number | null = null;

  constructor(db: Adapter) {
    this.#db = db;
  }

  /** when the sync under way started, or null */
  get since(): number | null {
    return this.#since;
  }

  /** `record: false`: the attempt is not written to the database (a poke's short sync, many a minute; it shows as `syncing` in this process only) */
  run(fn: () => Promise<T>, o: { record?: boolean } = {}): Promise<T> {
    if (this.#running) return this.#running;
    const since = Date.now();
    this.#since = since;
    const record = o.record !== false;
    // The records are writes of the sync like any other: where the database
    // refuses one, the sync fails (it is not reported as a success it was not).
    const end = (attempt: SyncAttempt) => this.#db.write(async (tx) => {
      await tx.setState(ATTEMPT, JSON.stringify(attempt));
      await tx.setState(RUNNING, null);
    });
    const p = (async () => {
      try {
        if (record) await this.#db.write((tx) => tx.setState(RUNNING, JSON.stringify({ since, pid: process.pid, host: hostname() } satisfies Running)));
        let r: T;
        try {
          r = await fn();
        } catch (e) {
          // The sync's own error is the one reported, whether or not its record could be written.
          if (record) await end({ at: new Date().toISOString(), ok: false, code: isOutpostError(e) ? e.code : 'INTERNAL', message: (e as Error).message }).catch(() => undefined);
          throw e;
        }
        if (record) await end({ at: new Date().toISOString(), ok: true, code: null, message: null });
        return r;
      } finally {
        this.#running = null;
        this.#since = null;
      }
    })();
    this.#running = p;
    return p;
  }
}

export async function recordHubView(db: Adapter, view: Omit<HubView, 'at'>): Promise<void> {
  const v: HubView = { at: new Date().toISOString(), ...view };
  await db.write((tx) => tx.setState(HUB_VIEW, JSON.stringify(v)));
}

/** A live `outpost run` keeps its WebSocket's state here (null when it stops), so `outpost status` in another process sees it. */
export async function recordLive(db: Adapter, s: LiveStatus | null): Promise<void> {
  await db.write((tx) => tx.setState(LIVE, s === null ? null : JSON.stringify({ ...s, pid: process.pid, host: hostname() })));
}

/** `outpost run` keeps the time of its next scheduled sync here (null when it stops). */
export async function recordNextSync(db: Adapter, at: number | null): Promise<void> {
  await db.write((tx) => tx.setState(NEXT, at === null ? null : JSON.stringify({ at, pid: process.pid, host: hostname() })));
}

/** The state machine and the counts, read from the node's database (`syncingSince`: this process's own sync, when it knows). */
export async function readSyncStatus(tx: Tx, own?: { syncingSince: number | null }): Promise<SyncStatusFields> {
  const all = await tx.allState();
  const attempt = parse<SyncAttempt>(all.get(ATTEMPT) ?? null);
  const running = parse<Running>(all.get(RUNNING) ?? null);
  const hub = parse<HubView>(all.get(HUB_VIEW) ?? null);
  const next = parse<{ at: number; pid: number; host: string }>(all.get(NEXT) ?? null);
  const live = parse<LiveStatus & { pid: number; host: string }>(all.get(LIVE) ?? null);
  const since = own?.syncingSince ?? (running && alive(running) ? running.since : null);
  const open = await tx.listQuarantine({ status: 'open', limit: 100_000 });
  const here = open.filter((e) => e.hubId === null).length;
  const notices = open.length - here;
  const state: SyncState = since !== null ? 'syncing' : !attempt || attempt.ok ? 'idle' : OFFLINE.has(attempt.code ?? '') ? 'offline' : 'error';
  return {
    state,
    syncingSince: since === null ? null : new Date(since).toISOString(),
    lastAttempt: attempt,
    lag: hub?.lag ?? null,
    hubContactAt: hub?.at ?? null,
    conflictsOpen: hub?.conflictsOpen ?? null,
    quarantined: { here, atHub: hub?.quarantineOpen ?? (notices || null) },
    nextSyncAt: next && alive(next) ? new Date(next.at).toISOString() : null,
    live: live && alive(live) ? { state: live.state, reason: live.reason, since: live.since, retryAt: live.retryAt } : null,
  };
}
