import { HlcClock, OutpostError, PROTOCOL_VERSION, type HandshakeResponse, type KeyRange, type TableSchema } from '../protocol/index.ts';
import { addedColumns, stampCaptured, type AddedColumns } from '../engine/index.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { HubClient } from './hub-client.ts';
import type { NodeContext } from './node-context.ts';
import { readNodeState, writeNodeState, type NodeState } from './node-state.ts';
import { pushPending } from './push.ts';
import { applyPokedPages, pullAll, type PokedPage } from './pull.ts';
import { retryPulledQuarantine } from './node-quarantine.ts';
import { quarantineView, type QuarantineView } from '../adapters/quarantine-view.ts';
import { refreshSnapshot, takeSnapshot } from './snapshot.ts';
import { dropPurgedMarkers } from './purge-markers.ts';
import { CLOCK_OK, clockAheadDetails, rebaseClock, recordSkew } from './clock-rebase.ts';
import type { LiveStatus } from './live-client.ts';
import { SyncActivity, recordHubView } from './sync-status.ts';


/** The short way of a poke's sync cannot go on (a local edit must be pushed first): a full sync instead. */
class NeedFullSync extends Error {}

/** How often an agent refreshes the hub's view of its node (lag, open conflicts, quarantine) after syncs that moved nothing. */
const HUB_VIEW_EVERY_MS = 60_000;

/** Changes per push page, per pull request and per snapshot apply transaction, unless an agent is given another. */
export const DEFAULT_PAGE_SIZE = 5000;

export interface AgentOptions {
  /** the lab's wall clock; tests inject a skewed one */
  now?: () => number;
  pageSize?: number;
  timeoutMs?: number;
  progress?: NodeContext['progress'];
  /**
   * PEM certificate(s) of a private CA to trust for an https:// hub. Kept in
   * the node's state at join; given later, it replaces the stored one once a
   * handshake succeeds with it.
   */
  ca?: string;
}

export interface SyncSummary {
  pushed: number;
  pulled: number;
  conflicts: number;
  snapshotRows: number;
  cursor: number;
  durationMs: number;
  /** changes of this node the hub quarantined in this sync, and pulled changes quarantined here */
  quarantined: number;
}

export interface NodeStatus {
  nodeId: string;
  nodeName: string;
  hub: string;
  pending: number;
  cursor: number;
  acked: number;
  lastSyncAt: string | null;
  lastError: string | null;
  snapshot: NodeState['snapshot'];
  tables: { name: string; direction: string }[];
  /** the integer keys this node's database may generate in tables with auto-increment keys */
  keyRange: KeyRange | null;
  /** open quarantined changes: pulled ones this database refused (origin `hub`), and this node's own that the hub quarantined (`hubId`) */
  quarantine: QuarantineView[];
}


/** The node agent: one database that joined a hub, and the way it syncs. */
export class NodeAgent {
  readonly db: Adapter;
  readonly #opts: AgentOptions;
  /** set by the live loop (live-loop.ts) running this agent: its WebSocket's state */
  live: LiveStatus | null = null;
  /** one sync at a time: a sync asked for while one runs joins it; attempts are recorded (sync-status.ts) */
  readonly #activity: SyncActivity<SyncSummary>;

  private constructor(db: Adapter, opts: AgentOptions) {
    this.db = db;
    this.#opts = opts;
    this.#activity = new SyncActivity(db);
  }

  /** when the sync under way in this agent started (ms), or null */
  get syncingSince(): number | null {
    return this.#activity.since;
  }

  static async open(db: Adapter, opts: AgentOptions = {}): Promise<NodeAgent> {
    await db.installBookkeeping('node');
    await db.read(readNodeState); // throws NOT_ENROLLED
    return new NodeAgent(db, opts);
  }

  /**
   * Exchange a one-time code for this node's credential, create the synced
   * tables that are missing, install the triggers (capturing rows already
   * here) and take the first snapshot.
   */
  static async join(db: Adapter, hubUrl: string, code: string, opts: AgentOptions = {}): Promise<{ agent: NodeAgent; summary: SyncSummary }> {
    await db.installBookkeeping('node');
    const existing = await db.read((tx) => tx.getState('role'));
    if (existing) throw new OutpostError('BAD_REQUEST', `${db.description} has joined a hub already (role ${existing}); use a fresh database`);
    const client = new HubClient(hubUrl, undefined, { timeoutMs: opts.timeoutMs, ca: opts.ca });
    const joined = await client.join(code.trim());
    // Keep the credential at once: the code cannot be used twice.
    await db.write((tx) => writeNodeState(tx, { nodeId: joined.nodeId, nodeName: joined.nodeName, hubUrl: client.baseUrl, token: joined.token, cursor: 0, acked: 0, snapshot: 'none', hubCa: opts.ca ?? null }).then(() => tx.setState('role', 'node')));
    const agent = new NodeAgent(db, opts);
    const summary = await agent.sync();
    return { agent, summary };
  }

  /**
   * A new credential for this node (`outpost rotate`). Without a code the
   * node asks with its current credential (`POST /v1/rotate`); with a code
   * from `outpost node rotate NAME` it redeems that. The new token is stored
   * before anything else, then used once (`GET /v1/status`), which makes the
   * hub drop the old one. If the reply is lost the node still has its old
   * token, which the hub keeps accepting until the new one is used: running
   * the command again is safe. If that confirming request fails, the next
   * sync confirms. Returns whether the old token is known to be dead.
   */
  async rotate(code?: string): Promise<{ nodeId: string; nodeName: string; confirmed: boolean }> {
    const state = await this.db.read(readNodeState);
    const client = new HubClient(state.hubUrl, code === undefined ? state.token : undefined, { timeoutMs: this.#opts.timeoutMs });
    const r = await client.rotate(code === undefined ? {} : { code: code.trim(), nodeId: state.nodeId });
    if (r.nodeId !== state.nodeId) throw new OutpostError('HUB_ERROR', `the hub answered for node ${r.nodeId}, this database is ${state.nodeId}`);
    await this.db.write((tx) => writeNodeState(tx, { token: r.token }));
    let confirmed = true;
    try {
      await new HubClient(state.hubUrl, r.token, { timeoutMs: this.#opts.timeoutMs }).status();
    } catch {
      confirmed = false;
    }
    return { nodeId: r.nodeId, nodeName: r.nodeName, confirmed };
  }

  /**
   * One push and pull (and the first snapshot when none was taken). A sync
   * refused UNAUTHORIZED because `outpost rotate` replaced the credential
   * while it ran is done again, once, with the new one.
   */
  sync(): Promise<SyncSummary> {
    return this.#activity.run(async () => {
      const summary = await this.#syncRotating();
      await this.#recordHubView(summary);
      return summary;
    });
  }

  /**
   * A poke's sync (live mode): where nothing is captured here and the node
   * is in its ordinary state (snapshot done, schema known), only a pull — no
   * handshake, no push, no stamping write, the sync's state kept with the
   * pages it applies. Pages the pokes carried (`poked.pages`, in order) are
   * applied first without asking the hub, each only if it starts at this
   * node's cursor; the rest, up to `poked.head` (unknown: whatever the hub
   * has), is pulled. Anything else (local writes, a page held back for a
   * local edit made meanwhile, any failure of the short way, a schema or
   * cursor the hub no longer serves) takes a full sync.
   */
  async pullNow(poked: { head?: number; pages?: readonly PokedPage[] } = {}): Promise<SyncSummary> {
    const short = await this.#activity.run(async () => {
      const started = Date.now();
      const withPage = { lastSyncAt: Date.now(), lastError: null };
      try {
        let ctx: NodeContext;
        let cursor: number;
        let pulled = 0;
        let quarantined = 0;
        let openQuarantine = 0;
        if (poked.pages?.length) {
          // The check and the pages in one transaction (pull.ts).
          const r = await applyPokedPages(this.db, (state) => this.#context(state), poked.pages, withPage);
          if (!r) throw new NeedFullSync();
          ({ ctx, cursor, pulled, quarantined, openQuarantine } = r);
        } else {
          const [state, { count }] = await this.db.read(async (tx) => [await readNodeState(tx), await tx.captureStats()] as const);
          if (count > 0 || state.snapshot !== 'done' || !state.schemaVersion) throw new NeedFullSync();
          ctx = this.#context(state);
          cursor = state.cursor;
        }
        if (poked.head === undefined || cursor < poked.head) {
          const pull = await pullAll(ctx, cursor, () => Promise.reject(new NeedFullSync()), withPage);
          cursor = pull.cursor;
          pulled += pull.pulled;
          quarantined += pull.quarantined;
          if (pull.pulled > 0) openQuarantine = await this.db.read((tx) => tx.countQuarantine('open'));
        }
        if (openQuarantine > 0) await retryPulledQuarantine(this.db, ctx, Date.now(), started);
        return { pushed: 0, pulled, conflicts: 0, snapshotRows: 0, cursor, durationMs: Date.now() - started, quarantined };
      } catch {
        // The full sync finds out what the short way could not handle (and reports its errors).
        throw new NeedFullSync();
      }
    }, { record: false }).catch((e: unknown) => {
      if (e instanceof NeedFullSync) return null;
      throw e;
    });
    return short ?? this.sync();
  }

  /** when this agent last asked the hub for its view of the node (after a sync) */
  #viewAt = 0;

  /**
   * What the hub says of this node now (lag, its open conflicts and
   * quarantine), kept for `status`; best effort, 5 s at most: after a sync
   * that moved anything (a conflict or a quarantine is made by a push, or
   * told by a pull), else at most once a minute.
   */
  async #recordHubView(s: SyncSummary): Promise<void> {
    const moved = s.pushed + s.pulled + s.conflicts + s.quarantined + s.snapshotRows > 0;
    if (!moved && Date.now() - this.#viewAt < HUB_VIEW_EVERY_MS) return;
    this.#viewAt = Date.now();
    const state = await this.db.read(readNodeState);
    const client = this.hubClient(state, Math.min(this.#opts.timeoutMs ?? 5000, 5000));
    let view: Awaited<ReturnType<HubClient['status']>>;
    try {
      view = await client.status();
    } catch (e) {
      // The hub is out of reach now: the view stays as of the last contact (the sync itself succeeded).
      // Any other answer (the hub's database failing) fails the sync, as a failing step of it would.
      if (e instanceof OutpostError && (e.code === 'HUB_UNREACHABLE' || e.code === 'SHUTTING_DOWN')) return;
      throw e;
    }
    // Writing it is a write of the sync: a database that refuses it fails the sync.
    await recordHubView(this.db, { logSeq: view.logSeq, lag: view.lag, conflictsOpen: view.conflictsOpen ?? null, quarantineOpen: view.quarantineOpen ?? null });
  }

  async #syncRotating(): Promise<SyncSummary> {
    const token = (await this.db.read(readNodeState)).token;
    try {
      return await this.#syncOnce();
    } catch (e) {
      if (!(e instanceof OutpostError && e.code === 'UNAUTHORIZED') || (await this.db.read(readNodeState)).token === token) throw e;
      return this.#syncOnce();
    }
  }

  async #syncOnce(): Promise<SyncSummary> {
    const started = Date.now();
    const state = await this.db.read(readNodeState);
    const ctx = this.#context(state);
    try {
      // Local edits made so far are stamped before any stamp from the hub is
      // seen, so that they order by when they were made.
      await this.db.write(async (tx) => {
        await stampCaptured(tx, ctx.clock, ctx.catalogue, ctx.skewMs);
        await writeNodeState(tx, { clock: ctx.clock.last });
      });
      const hs = await this.#handshake(ctx, state);
      ctx.clock.receive(hs.clock);
      // A CA given on this command worked: later commands use it without --ca.
      if (this.#opts.ca !== undefined && this.#opts.ca !== state.hubCa) await this.db.write((tx) => writeNodeState(tx, { hubCa: this.#opts.ca ?? null }));
      let snapshotRows = 0;
      let cursor = state.cursor;
      let acked = state.acked;
      if (hs.acked > acked) {
        if (hs.acked > state.pushTo) {
          // Not a lost reply: this database never sent that far. Deleting
          // capture rows on the hub's word could drop unsent writes.
          throw new OutpostError('NODE_STATE_BEHIND', `the hub has committed this node's changes up to ${hs.acked}, but this database only ever sent up to ${state.pushTo} (was it restored from a backup?); nothing was deleted; re-enroll the node into a fresh database after saving its pending changes`, { hubAcked: hs.acked, sent: state.pushTo });
        }
        // The hub committed the group whose reply was lost: forget it here too.
        await this.db.write(async (tx) => {
          await tx.deleteCaptureThrough(hs.acked);
          await writeNodeState(tx, { acked: hs.acked });
        });
        acked = hs.acked;
      }
      const first = state.snapshot === 'none' || state.snapshot === 'partial';
      // The hub purged log entries this node has not pulled: after its push,
      // it takes a fresh snapshot (state kept, so a crash resumes it).
      let refresh = state.snapshot === 'refresh';
      if (!first && !refresh && hs.purgedThrough !== undefined && state.cursor < hs.purgedThrough) {
        await this.db.write((tx) => writeNodeState(tx, { snapshot: 'refresh' }));
        refresh = true;
      }
      if (first) {
        await this.#provision(hs.tables, hs.keyRange);
        for (const t of hs.tables) ctx.catalogue.set(t.name, t);
      } else if (hs.schemaVersion !== state.schemaVersion) {
        const diff = addedColumns(state.tables, hs.tables);
        if (typeof diff === 'string') {
          throw new OutpostError('SCHEMA_MISMATCH', `the hub's schema is ${hs.schemaVersion}, this node's ${state.schemaVersion} (${diff}); local changes are kept and sync resumes once the schemas agree`, { hub: hs.schemaVersion, node: state.schemaVersion });
        }
        await this.#addColumns(diff, hs.tables, hs.schemaVersion);
        ctx.catalogue.clear();
        for (const t of hs.tables) ctx.catalogue.set(t.name, t);
      }
      // Local changes go up before anything comes down, so that where the hub
      // has a newer version the local one is logged there as a conflict
      // rather than overwritten here unseen (this includes rows a lab had
      // before it joined: they are pushed before the first snapshot).
      let pushed = 0;
      let conflicts = 0;
      let quarantined = 0;
      const push = async (): Promise<void> => {
        const r = await pushPending(ctx, acked);
        pushed += r.pushed;
        conflicts += r.conflicts;
        quarantined += r.quarantined;
        acked = r.acked;
      };
      await push();
      if (first) {
        const snap = await takeSnapshot(ctx, state.snapshot === 'partial');
        await this.db.write((tx) => writeNodeState(tx, { snapshot: 'done', cursor: snap.cursor, schemaVersion: snap.header.schemaVersion, tables: snap.header.tables, clock: ctx.clock.last }));
        snapshotRows = snap.rows;
        cursor = snap.cursor;
      }
      const renew = async (): Promise<void> => {
        const snap = await refreshSnapshot(ctx);
        await this.db.write((tx) => writeNodeState(tx, { snapshot: 'done', cursor: snap.cursor, clock: ctx.clock.last }));
        snapshotRows += snap.rows;
        cursor = snap.cursor;
      };
      if (refresh) await renew();
      // Markers of deletes the hub has purged go here too (never those of rows
      // with pending changes), once per purge point (a scan of the stamps).
      if (hs.purgedHlc && (refresh || hs.purgedHlc !== state.markersDroppedTo)) {
        await dropPurgedMarkers(ctx, hs.purgedHlc);
        await this.db.write((tx) => writeNodeState(tx, { markersDroppedTo: hs.purgedHlc ?? null }));
      }
      let pull: { pulled: number; cursor: number; quarantined: number };
      try {
        pull = await pullAll(ctx, cursor, push);
      } catch (e) {
        if (!(e instanceof OutpostError && e.code === 'CURSOR_EXPIRED')) throw e;
        // The hub purged past this cursor since the handshake.
        await this.db.write((tx) => writeNodeState(tx, { snapshot: 'refresh' }));
        await push();
        await renew();
        pull = await pullAll(ctx, cursor, push);
      }
      quarantined += pull.quarantined;
      // What this database refused before may fit now (the hub sent what resolves it).
      if (pull.pulled > 0 && (await this.db.read((tx) => tx.countQuarantine('open'))) > 0) {
        await retryPulledQuarantine(this.db, ctx, Date.now(), started);
      }
      const summary: SyncSummary = { pushed, pulled: pull.pulled, conflicts, snapshotRows, cursor: pull.cursor, durationMs: Date.now() - started, quarantined };
      await this.db.write(async (tx) => {
        await writeNodeState(tx, { lastSyncAt: Date.now(), lastError: null, clock: ctx.clock.last });
        // Every stamp this node holds now was accepted by the hub: a rebase never goes below it.
        await tx.setState(CLOCK_OK, ctx.clock.last);
      });
      return summary;
    } catch (e) {
      await this.db.write((tx) => writeNodeState(tx, { lastError: (e as Error).message, clock: ctx.clock.last })).catch(() => undefined);
      throw e;
    }
  }

  /**
   * The handshake. Refused with CLOCK_AHEAD: if this machine's clock is still
   * too far ahead of the hub's, the error stands (its size kept for the
   * rebase) and nothing else happens; if the clock is right again, the
   * stamps the node gave while it was wrong are replaced (clock-rebase.ts)
   * and the handshake is sent once more.
   */
  async #handshake(ctx: NodeContext, state: NodeState): Promise<HandshakeResponse> {
    const send = (): Promise<HandshakeResponse> => ctx.client.handshake({ protocol: PROTOCOL_VERSION, schemaVersion: state.schemaVersion, clock: ctx.clock.tick() });
    try {
      return await send();
    } catch (e) {
      const hub = e instanceof OutpostError && e.code === 'CLOCK_AHEAD' ? clockAheadDetails(e) : null;
      if (!hub) throw e;
      const now = this.#opts.now ?? Date.now;
      const skew = now() - hub.hubTimeMs;
      if (skew > hub.maxAheadMs) {
        await this.db.write((tx) => recordSkew(tx, skew));
        const pending = (await this.db.read((tx) => tx.captureStats())).count;
        throw new OutpostError('CLOCK_AHEAD', `this machine's clock (${new Date(now()).toISOString()}) is ${Math.round(skew / 1000)} s ahead of the hub's (${new Date(hub.hubTimeMs).toISOString()}); the hub accepts at most ${hub.maxAheadMs / 1000} s. Set the clock right (NTP) and sync again; nothing was sent, the ${pending} pending change(s) are kept and will be re-stamped then`, { ...(e as OutpostError).details });
      }
      await rebaseClock(ctx, state.acked, hub, now);
      return send();
    }
  }

  async status(): Promise<NodeStatus> {
    return this.db.read(async (tx) => {
      const s = await readNodeState(tx);
      const { count } = await tx.captureStats();
      return {
        nodeId: s.nodeId, nodeName: s.nodeName, hub: s.hubUrl, pending: count, cursor: s.cursor, acked: s.acked,
        lastSyncAt: s.lastSyncAt ? new Date(s.lastSyncAt).toISOString() : null, lastError: s.lastError, snapshot: s.snapshot,
        tables: s.tables.map((t) => ({ name: t.name, direction: t.direction })),
        keyRange: s.keyRange,
        quarantine: (await tx.listQuarantine({ status: 'open', limit: 1000 })).map((e) => quarantineView(e)),
      };
    });
  }

  /**
   * Take on nullable columns the hub added: add them here, keep the new
   * catalogue, then reinstall the triggers so that they capture the new
   * columns too. Pending captured changes are untouched and pushed as usual;
   * the values the hub has in the new columns arrive by pull.
   */
  async #addColumns(diff: AddedColumns[], tables: TableSchema[], version: string): Promise<void> {
    const local = new Map((await this.db.introspect()).map((t) => [t.name, t]));
    for (const { table, columns } of diff) {
      for (const c of columns) if (!local.get(table.name)?.columns.some((h) => h.name === c.name)) await this.db.addColumn(table, c);
    }
    await this.db.write((tx) => writeNodeState(tx, { tables, schemaVersion: version }));
    for (const { table } of diff) await this.db.installTriggers(table, table.direction === 'down' ? 'readonly' : 'capture');
  }

  /** Create missing synced tables from the hub's schema and install triggers. */
  async #provision(tables: TableSchema[], keyRange: KeyRange | undefined): Promise<void> {
    const local = new Map((await this.db.introspect()).map((t) => [t.name, t]));
    for (const t of tables) {
      const have = local.get(t.name);
      if (!have) {
        await this.db.createTable(t);
        continue;
      }
      const missing = t.columns.filter((c) => !have.columns.some((h) => h.name === c.name)).map((c) => c.name);
      if (missing.length) throw new OutpostError('SCHEMA_INVALID', `local table ${t.name} lacks column(s) ${missing.join(', ')} that the hub has`);
      if (have.primaryKey.join(',') !== t.primaryKey.join(',')) throw new OutpostError('SCHEMA_INVALID', `local table ${t.name} has key (${have.primaryKey.join(', ')}), the hub's is (${t.primaryKey.join(', ')})`);
    }
    // Rows the lab had before joining are its initial state; where the hub has
    // the same row, the hub's version wins and the lab's is kept as a conflict.
    // The catalogue is kept before any trigger captures, so that captured rows
    // are only ever stamped against a known table (even after a crash here).
    await this.db.write((tx) => writeNodeState(tx, { tables, keyRange: keyRange ?? null }));
    for (const t of tables) await this.db.installTriggers(t, t.direction === 'down' ? 'readonly' : 'capture', { initialAtEpoch: true });
    // Keys this node's database generates start in the node's own range.
    if (keyRange) {
      for (const t of tables) {
        if (t.direction !== 'down' && t.primaryKey.length === 1 && t.columns.some((c) => c.name === t.primaryKey[0] && c.autoIncrement)) await this.db.setKeyStart(t, keyRange.lo);
      }
    }
  }

  /** A client of this node's hub, with its credential and the CA to trust (this agent's, else the stored one). */
  /** The hub's client with this node's credential and CA (`timeoutMs`: another per-request limit than the agent's). */
  hubClient(state: NodeState, timeoutMs = this.#opts.timeoutMs): HubClient {
    return new HubClient(state.hubUrl, state.token, { timeoutMs, ca: this.#opts.ca ?? state.hubCa ?? undefined });
  }

  #context(state: NodeState): NodeContext {
    const now = this.#opts.now ?? Date.now;
    return {
      db: this.db,
      client: this.hubClient(state),
      clock: new HlcClock(state.nodeId, now, state.clock ?? undefined),
      catalogue: new Map(state.tables.map((t) => [t.name, t])),
      nodeId: state.nodeId,
      skewMs: now() - Date.now(),
      pageSize: this.#opts.pageSize ?? DEFAULT_PAGE_SIZE,
      progress: this.#opts.progress,
    };
  }
}
