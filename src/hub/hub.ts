import {
  HlcClock, OutpostError, PROTOCOL_VERSION, formatHlc, parseHlc, pkKey,
  type Change, type HandshakeRequest, type HandshakeResponse, type PullResponse,
  type KeyRange, type PushRequest, type PushResponse, type SnapshotLine, type TableSchema, type WireValue,
} from '../protocol/index.ts';
import { addedColumns, applyChanges, capturedCounters, columnStamp, type CustomResolver, type HubConflict, lockChangedRows, readMetas, type RowMeta, type RowValues, rowKey, stampCaptured } from '../engine/index.ts';
import type { Adapter, ConflictEntry, NodeRecord, Tx } from '../adapters/adapter.ts';
import { buildCatalogue, fromTables, withPolicies, type Catalogue } from './catalogue.ts';
import { hubArbiter, writesAfter, type PushContext } from './arbiter.ts';
import { loadResolvers } from './resolvers.ts';
import { conflictRecord, conflictView, resolutionChange, type ConflictDecision, type ConflictView } from './conflicts.ts';
import type { HubConfig } from './config.ts';
import { validatePushedChange } from './validate-change.ts';
import { readHubReport, type HubReport } from './hub-report.ts';
import { keyRangeOf } from './enrollment.ts';
import { PURGED_HLC, PURGED_THROUGH, purgeHub, type PurgeResult } from './purge.ts';
import { applyQuarantining, type QuarantinedNote } from './quarantine.ts';
import { compileScopes, matches, scopeValues, type NodeAttrs, type Scopes } from './scopes.ts';
import { appendScoped, checkScopeGeneration, everScoped, indexScopes, nodeAttrs, snapshotTaken, type LogInput } from './scope-log.ts';
import { projectForNode, projectionsFor } from './scope-pull.ts';
import { checkWriteScope, type ScopeRefusal } from './scope-write.ts';
import { noticingAdapter, type CommitNotice } from './commit-notice.ts';
import { decodeStagedPages, encodeStagedPage } from './staged-page.ts';

export interface HubOptions {
  /** the hub's wall clock (tests inject skew) */
  now?: () => number;
  /**
   * refuse (SCHEMA_INVALID) a schema that changed since the hub last ran in
   * a way other than added nullable columns, instead of serving it as a new
   * version that nodes will be told does not match theirs
   */
  strictSchema?: boolean;
}

const HUB_NODE_ID = 'hub';

/**
 * The hub's sync logic over one database, without HTTP: enrollment,
 * handshake, push, pull and snapshot. The server maps requests onto it.
 */
export class Hub {
  readonly db: Adapter;
  readonly config: HubConfig;
  #catalogue: Catalogue;
  readonly clock: HlcClock;
  readonly #now: () => number;

  readonly #resolvers: ReadonlyMap<string, CustomResolver>;
  /** per-table read and write filters (scopes.ts) */
  readonly scopes: Scopes;
  /** scopes are, or were once, configured: pulls check the node's scope generation */
  #scoped = false;

  private constructor(db: Adapter, config: HubConfig, catalogue: Catalogue, clock: HlcClock, now: () => number, resolvers: ReadonlyMap<string, CustomResolver>, scopes: Scopes) {
    this.db = db;
    this.scopes = scopes;
    this.config = config;
    this.#catalogue = catalogue;
    this.clock = clock;
    this.#now = now;
    this.#resolvers = resolvers;
  }

  /** The validated schema catalogue; replaced when a schema refresh picks up added columns. */
  get catalogue(): Catalogue {
    return this.#catalogue;
  }

  /** Validate the config against the database, install bookkeeping and triggers, and sequence what is already there. */
  static async open(raw: Adapter, config: HubConfig, opts: HubOptions = {}): Promise<Hub> {
    const now = opts.now ?? Date.now;
    // Every write of this process that appends to the change log is told to onCommit's listeners (live pokes).
    const listeners: ((n: CommitNotice) => void)[] = [];
    const wants = { pages: (): boolean => false };
    const db = noticingAdapter(raw, (n) => {
      for (const fn of listeners) fn(n);
    }, () => wants.pages());
    // Nodes pull the log by id: ids that could commit out of order would let a pull skip a change.
    if (!db.caps.commitOrderedIds) throw new OutpostError('SCHEMA_INVALID', `${db.description} cannot host a hub: its change log ids would not be commit-ordered`);
    const found = buildCatalogue(config, await db.introspect());
    const resolvers = await loadResolvers(config);
    await db.installBookkeeping('hub');
    // Start from the catalogue last served, so that columns added while the
    // hub was stopped are picked up like a refresh (their values logged).
    const stored = await db.read((tx) => tx.getState('catalogue'));
    const last = stored ? fromTables(JSON.parse(stored) as TableSchema[]) : null;
    const diff = last ? addedColumns(last.tables, found.tables) : [];
    if (typeof diff === 'string' && opts.strictSchema) {
      throw new OutpostError('SCHEMA_INVALID', `the hub's schema changed in a way nodes cannot take on while keeping their databases: ${diff}`);
    }
    // The policies are the config's as it is now (a policy other than lww or a counter is the hub's alone).
    const start = last && typeof diff !== 'string' ? fromTables(last.tables.map((t) => withPolicies(t, config.tables[t.name]!))) : found;
    for (const t of start.tables) {
      // Rows of `up` tables never leave the hub, so website writes to them need no capture.
      await db.installTriggers(t, t.direction === 'up' ? 'none' : 'capture');
    }
    // Scopes are checked against the tables, and their rows indexed where the config changed them.
    const scopes = compileScopes(config, start.tables);
    await indexScopes(db, scopes, start.tables);
    const clock = await db.read((tx) => tx.getState('clock'));
    const hub = new Hub(db, config, start, new HlcClock(HUB_NODE_ID, now, clock ?? undefined), now, resolvers, scopes);
    hub.#scoped = scopes.size > 0 || (await db.read(everScoped));
    hub.#commitListeners = listeners;
    hub.#wants = wants;
    await db.write(async (tx) => {
      await tx.setState('role', 'hub');
      await tx.setState('key_range_size', String(config.keyRangeSize));
      await tx.setState('schema_version', start.version);
      await tx.setState('catalogue', JSON.stringify(start.tables));
      await hub.#sequence(tx);
    });
    await hub.refreshSchema();
    return hub;
  }

  /**
   * Pick up nullable columns added to synced tables (by `outpost schema
   * refresh`, by this process's timer, or by another hub process that did
   * it first): re-introspect, reinstall the capture triggers, and log the
   * values already written to the new columns so that nodes receive them.
   * Any other schema change is refused with SCHEMA_INVALID and changes nothing.
   */
  async refreshSchema(): Promise<{ version: string; added: string[] }> {
    const next = buildCatalogue(this.config, await this.db.introspect());
    if (next.version === this.#catalogue.version) return { version: next.version, added: [] };
    const r = await this.#refresh(next);
    this.#added = r.added;
    return r;
  }

  #added: string[] = [];

  /** The columns the last refresh that changed something picked up (at open, or since). */
  get addedColumns(): readonly string[] {
    return this.#added;
  }

  async #refresh(next: Catalogue): Promise<{ version: string; added: string[] }> {
    const diff = addedColumns(this.#catalogue.tables, next.tables);
    if (typeof diff === 'string') {
      throw new OutpostError('SCHEMA_INVALID', `the hub's schema changed in a way a running hub cannot take on: ${diff}; restart the hub, and re-enroll nodes into fresh databases`);
    }
    // Website writes captured under the old triggers are logged first.
    await this.sequencePending();
    for (const { table } of diff) await this.db.installTriggers(table, table.direction === 'up' ? 'none' : 'capture');
    await this.db.write(async (tx) => {
      for (const { table, columns } of diff) {
        if (table.direction === 'up') continue;
        await this.#logAddedValues(tx, table, columns.map((c) => c.name));
      }
      await tx.setState('schema_version', next.version);
      await tx.setState('catalogue', JSON.stringify(next.tables));
      await tx.setState('clock', this.clock.last);
    });
    this.#catalogue = next;
    return { version: next.version, added: diff.flatMap((d) => d.columns.map((c) => `${d.table.name}.${c.name}`)) };
  }

  /** Values written to new columns before their capture triggers existed, logged as updates. */
  async #logAddedValues(tx: Tx, table: TableSchema, columns: string[]): Promise<void> {
    let after: unknown[] | null = null;
    for (;;) {
      const page = await tx.scanRows(table, after, SNAPSHOT_PAGE);
      if (page.length === 0) return;
      // One stamp read, one stamp write and one log append per page.
      const updates = page.flatMap((row) => {
        const cols = Object.fromEntries(columns.filter((c) => row[c] !== null && row[c] !== undefined).map((c) => [c, row[c]!]));
        return Object.keys(cols).length ? [{ pk: table.primaryKey.map((k) => row[k]!), cols }] : [];
      });
      const metas = (await readMetas(tx, updates.map((u) => ({ table: table.name, pk: u.pk })))).get(table.name);
      const stamps: [string, RowMeta][] = [];
      const log: { change: Change; origin: null }[] = [];
      for (const { pk, cols } of updates) {
        const hlc = this.clock.tick();
        const base = metas?.get(pkKey(pk)) ?? { exists: true, hlc, colHlc: {} };
        stamps.push([pkKey(pk), { ...base, colHlc: { ...base.colHlc, ...Object.fromEntries(Object.keys(cols).map((c) => [c, hlc])) } }]);
        log.push({ change: { table: table.name, pk, op: 'U', hlc, cols }, origin: null });
      }
      await tx.putMetas(table.name, stamps);
      await this.log(tx, log);
      after = table.primaryKey.map((k) => page[page.length - 1]![k]);
      if (page.length < SNAPSHOT_PAGE) return;
    }
  }

  /** Another process (`outpost schema refresh`, another hub) may have refreshed the schema: follow it. */
  async #followSchema(): Promise<void> {
    const stored = await this.db.read((tx) => tx.getState('schema_version'));
    if (stored && stored !== this.#catalogue.version) await this.refreshSchema();
  }

  async handshake(node: NodeRecord, req: HandshakeRequest): Promise<HandshakeResponse> {
    if (req.protocol !== PROTOCOL_VERSION) {
      throw new OutpostError('PROTOCOL_MISMATCH', `the hub speaks protocol ${PROTOCOL_VERSION}, the node ${req.protocol}; upgrade the older side`, { hubProtocol: PROTOCOL_VERSION, nodeProtocol: req.protocol });
    }
    if (req.clock) this.#checkAhead([req.clock], 'handshake');
    await this.#followSchema();
    // Website writes already made are stamped before the node's clock is
    // received, so that they order by when they were made (as on nodes).
    await this.sequencePending();
    if (req.clock) this.clock.receive(req.clock);
    const purged = await this.#purged();
    return {
      protocol: PROTOCOL_VERSION,
      schemaVersion: this.catalogue.version,
      nodeId: node.id,
      clock: this.clock.tick(),
      tables: [...this.catalogue.tables],
      acked: node.ackedSeq,
      keyRange: await this.db.read((tx) => keyRangeOf(tx, node.id)),
      ...(purged.through > 0 ? { purgedThrough: purged.through } : {}),
      ...(purged.hlc ? { purgedHlc: purged.hlc } : {}),
    };
  }

  /**
   * Apply a push page. Pages of one group are staged and the whole group is
   * committed in one transaction when its last page arrives; only then is it
   * acknowledged. A group the hub has committed before is acknowledged again
   * and applied nothing (a retry after a lost reply).
   */
  async push(node: NodeRecord, pushed: PushRequest): Promise<PushResponse> {
    // Who wrote a change is the credential's node: an `origin` a node sends is dropped (it is only for pulls).
    const req = pushed.changes.some((c) => c.origin !== undefined) ? { ...pushed, changes: pushed.changes.map(({ origin: _, ...c }) => c) } : pushed;
    for (const c of req.changes) validatePushedChange(c, this.catalogue.byName);
    // Before anything is written: a stamp far ahead would win every later conflict.
    this.#checkAhead(pushStamps(req), 'push');
    // A page that only waits for the rest of its group is compressed before the write lock is taken.
    const stagedBody = req.pages > 1 && req.page < req.pages - 1 ? await encodeStagedPage(req.changes) : null;
    return this.db.write(async (tx) => {
      const current = await this.#node(tx, node.id);
      const reply = (extra: Partial<PushResponse>): PushResponse => ({ ack: current.ackedSeq, duplicate: false, staged: false, applied: 0, conflicts: 0, clock: this.clock.last, ...extra });
      if (req.to <= current.ackedSeq) return reply({ duplicate: true });
      let changes: Change[] = req.changes;
      if (req.pages > 1) {
        if (req.page === 0) await tx.clearStaged(node.id);
        const staged = await tx.countStaged(node.id, req.from, req.to);
        if (staged !== req.page) {
          throw new OutpostError('PUSH_OUT_OF_ORDER', `expected page ${staged} of this group, got ${req.page}; start the group again`, { expected: staged });
        }
        // Not the last page: it waits, staged, for the rest of its group.
        if (stagedBody !== null) {
          await tx.putStaged(node.id, req.from, req.to, req.page, stagedBody);
          return reply({ staged: true });
        }
        changes = [...(await decodeStagedPages(await tx.getStaged(node.id, req.from, req.to))), ...req.changes];
        await tx.clearStaged(node.id);
      }
      // A website write to these rows has committed (and is sequenced next)
      // or waits for this commit: it is never overwritten unseen.
      await lockChangedRows(tx, this.catalogue.byName, changes);
      // Website writes are stamped before the node's clock is received (see handshake).
      await this.#sequence(tx);
      await this.#checkKeyRanges(tx, node.id, changes);
      this.clock.receive(req.clock);
      const quarantined: QuarantinedNote[] = [];
      // Rows outside the node's write scope are not touched: the changes are quarantined, and the node told the hub's state of them.
      const attrs = this.scopes.size ? await nodeAttrs(tx, node.id) : {};
      const { allowed, refused } = this.scopes.size ? await checkWriteScope(tx, this.scopes, this.catalogue.byName, attrs, changes) : { allowed: changes, refused: [] };
      if (refused.length) {
        await this.#refuseOutOfScope(tx, node.id, attrs, refused, quarantined);
        changes = allowed;
      }
      const { applied, conflicts } = await this.#apply(tx, node.id, changes, req.cursor, quarantined);
      await tx.updateNode(node.id, { ackedSeq: req.to, lastSeen: this.#now() });
      await tx.setState('clock', this.clock.last);
      return { ack: req.to, duplicate: false, staged: false, applied, conflicts, clock: this.clock.last, ...(quarantined.length ? { quarantined } : {}) };
    });
  }

  /** Changes after the cursor, in commit order, without the node's own and without `up` tables. */
  async pull(node: NodeRecord, after: number, limit: number): Promise<PullResponse> {
    await this.sequencePending();
    const tables = this.catalogue.tables.filter((t) => t.direction !== 'up').map((t) => t.name);
    const page = Math.min(limit, this.config.limits.pullPage);
    const { changes, scannedTo, head, full } = await this.db.read(async (tx) => {
      // Read in the same snapshot as the log: entries after a cursor at or above this are all there.
      const purged = Number((await tx.getState(PURGED_THROUGH)) ?? 0);
      if (after < purged) {
        throw new OutpostError('CURSOR_EXPIRED', `the hub has purged its change log through ${purged}; this node's cursor ${after} is older (it was away longer than the retention horizon): it uploads its changes, then takes a fresh snapshot`, { purgedThrough: purged, cursor: after });
      }
      // Where its scope changed since its snapshot, the node takes a fresh one.
      if (this.#scoped) await checkScopeGeneration(tx, node.id, after);
      const log = await tx.readLog({ after, limit: page, excludeOrigin: node.id, tables });
      if (this.scopes.size === 0) return { ...log, changes: log.entries.map((e) => e.change), full: log.entries.length === page };
      // The node sees its scope only (scope-pull.ts).
      const projected = await projectForNode(tx, this.scopes, this.catalogue.byName, node.id, await nodeAttrs(tx, node.id), log.entries);
      return { scannedTo: log.scannedTo, head: log.head, changes: projected, full: log.entries.length === page };
    });
    this.notePulled(node.id, scannedTo);
    return { changes, cursor: scannedTo, head, more: full, clock: this.clock.tick() };
  }

  /** Where nodes have pulled to, not written yet (one write for many pulls; `flushPulled`). */
  readonly #pulled = new Map<string, { pulledSeq: number; lastSeen: number }>();
  #pulledTimer: NodeJS.Timeout | null = null;

  /**
   * A pull's position is bookkeeping (lag, and what a purge may remove): it
   * is written within PULLED_FLUSH_MS, together with the other pulls' of
   * that time, not in a write transaction per pull. Until then it reads
   * lower than it is, which only makes a purge keep more. Live nodes' acks
   * of pages they applied from pokes (live-routes.ts) are noted the same way.
   */
  notePulled(nodeId: string, pulledSeq: number): void {
    this.#pulled.set(nodeId, { pulledSeq, lastSeen: this.#now() });
    if (this.#pulledTimer) return;
    this.#pulledTimer = setTimeout(() => void this.flushPulled().catch(() => undefined), PULLED_FLUSH_MS);
    this.#pulledTimer.unref();
  }

  /** Write the pull positions noted since the last flush (before a report, a purge, a close). */
  async flushPulled(): Promise<void> {
    if (this.#pulledTimer) clearTimeout(this.#pulledTimer);
    this.#pulledTimer = null;
    if (this.#pulled.size === 0) return;
    const batch = [...this.#pulled];
    this.#pulled.clear();
    await this.db.write(async (tx) => {
      for (const [id, p] of batch) await tx.updateNode(id, p);
    });
  }

  /**
   * One consistent snapshot of every table the node receives, streamed:
   * `emit` is awaited for each page, so a slow reader holds back the producer
   * and memory stays flat. Returns the number of rows sent.
   */
  async snapshot(node: NodeRecord, emit: (lines: SnapshotLine[]) => Promise<void>): Promise<number> {
    await this.sequencePending();
    const tables = this.catalogue.tables.filter((t) => t.direction !== 'up');
    // The node counts as live from here on, its cursor at most the header's:
    // a purge meanwhile keeps every entry it will pull after the snapshot.
    // (A pull position noted before is older than this one: it must not be written after it.)
    this.#pulled.delete(node.id);
    await this.db.write(async (tx) => {
      await tx.updateNode(node.id, { pulledSeq: await tx.maxLogSeq(), lastSeen: this.#now() });
      // On a hub with scopes: the node holds what this generation's scopes choose.
      if (this.#scoped) await snapshotTaken(tx, node.id);
    });
    const rows = await this.db.read(async (tx) => {
      const cursor = await tx.maxLogSeq();
      await emit([{ type: 'header', cursor, schemaVersion: this.catalogue.version, clock: this.clock.tick(), tables: [...this.catalogue.tables] }]);
      let n = 0;
      const attrs = this.scopes.size ? await nodeAttrs(tx, node.id) : {};
      for (const t of tables) {
        let after: unknown[] | null = null;
        const keep = this.#readFilter(t, attrs);
        for (;;) {
          const scanned = await tx.scanRows(t, after, SNAPSHOT_PAGE);
          if (scanned.length === 0) break;
          after = t.primaryKey.map((k) => scanned[scanned.length - 1]![k]);
          // Only the rows of the node's read scope.
          const page = keep ? scanned.filter(keep) : scanned;
          const keys = page.map((r) => pkKey(t.primaryKey.map((k) => r[k]!)));
          const metas = await tx.getMeta(t.name, keys);
          await emit(page.map((r, i) => {
            const meta = metas.get(keys[i]!);
            const line: SnapshotLine = { type: 'row', table: t.name, values: t.columns.map((c) => r[c.name] ?? null), hlc: meta?.hlc ?? ZERO };
            if (meta && Object.keys(meta.colHlc).length) line.colHlc = meta.colHlc;
            return line;
          }));
          n += page.length;
          if (scanned.length < SNAPSHOT_PAGE) break;
        }
      }
      return n;
    });
    await emit([{ type: 'end', rows }]);
    await this.db.write((tx) => tx.updateNode(node.id, { lastSeen: this.#now() }));
    return rows;
  }

  /** Conflicts in id order (after `after`), all or of one status. */
  async conflicts(opts: { status?: ConflictEntry['status']; after?: number; limit?: number; table?: string; pk?: WireValue[] } = {}): Promise<ConflictView[]> {
    const rows = await this.db.read((tx) => tx.listConflicts({ status: opts.status, after: opts.after, table: opts.table, pk: opts.pk ? pkKey(opts.pk) : undefined, limit: opts.limit ?? 100 }));
    return rows.map(conflictView);
  }

  async conflict(id: number): Promise<ConflictView> {
    const e = await this.db.read((tx) => tx.conflictById(id));
    if (!e) throw new OutpostError('NOT_FOUND', `no conflict ${id}`);
    return conflictView(e);
  }

  /**
   * An admin settles an open conflict: keep the hub's side, take the node's,
   * or set values. The outcome is written like any change the hub makes
   * (a fresh stamp, logged with no origin), so it replicates to every node;
   * the conflict is marked resolved and the decision goes to the audit trail,
   * in the same transaction.
   */
  async resolveConflict(id: number, decision: ConflictDecision, actor: string): Promise<ConflictView> {
    await this.db.write(async (tx) => {
      const e = await tx.conflictById(id);
      if (!e) throw new OutpostError('NOT_FOUND', `no conflict ${id}`);
      if (e.status !== 'open') throw new OutpostError('ALREADY_RESOLVED', `conflict ${id} is ${e.status === 'auto' ? 'decided by its rule' : `resolved already (by ${e.resolvedBy})`}; it is not waiting for review`, { status: e.status });
      const table = this.catalogue.byName.get(e.table);
      if (!table) throw new OutpostError('UNKNOWN_TABLE', `table ${e.table} of conflict ${id} is no longer synced`);
      await lockChangedRows(tx, this.catalogue.byName, [{ table: e.table, pk: JSON.parse(e.pk) as WireValue[] }]);
      // A website write to the row is stamped first, so the decision is newer than it.
      await this.#sequence(tx);
      const change = await resolutionChange(tx, table, e, decision, this.clock.tick());
      const [r] = await applyChanges(tx, this.catalogue.byName, [change]);
      if (r?.accepted) await this.log(tx, [{ change: r.accepted, origin: null }]);
      const row = (await tx.getRows(table, [change.pk])).get(e.pk);
      const result = row ? (e.column ? row[e.column] ?? null : row) : null;
      const resolution = JSON.stringify({ ...decision, change });
      if (!(await tx.resolveConflict(id, actor, resolution, JSON.stringify(result), this.#now()))) throw new OutpostError('ALREADY_RESOLVED', `conflict ${id} was resolved meanwhile`);
      await tx.addAudit({ actor, action: 'conflict.resolve', target: `conflict:${id}`, detail: JSON.stringify({ table: e.table, pk: JSON.parse(e.pk), column: e.column, ...decision, result }) }, this.#now());
      await tx.setState('clock', this.clock.last);
    });
    return this.conflict(id);
  }

  /** Sequence website writes captured by the hub's triggers into the change log. */
  async sequencePending(): Promise<void> {
    const { count } = await this.db.read((tx) => tx.captureStats());
    if (count > 0) await this.db.write((tx) => this.#sequence(tx));
  }

  /** Nodes and their lag, read only (what is not sequenced yet is not counted). */
  async report(): Promise<HubReport> {
    await this.flushPulled();
    return this.db.read(readHubReport);
  }

  /** Like report(), after sequencing pending website writes. */
  async status(): ReturnType<Hub['report']> {
    await this.sequencePending();
    return this.report();
  }

  /**
   * Purge log entries and delete markers every live node has pulled past
   * (`retention` in the config; `purge.ts`). Listeners (metrics) hear the result.
   */
  async purge(): Promise<PurgeResult> {
    await this.flushPulled();
    const r = await purgeHub(this.db, this.config.retention, this.#now());
    for (const fn of this.#purgeListeners) fn(r);
    return r;
  }

  readonly #purgeListeners: ((r: PurgeResult) => void)[] = [];

  #commitListeners: ((n: CommitNotice) => void)[] = [];
  #wants: { pages: () => boolean } = { pages: () => false };

  /**
   * Whether commit notices should carry their entries (`CommitNotice.page`,
   * at the cost of two small queries per write that appends to the log): the live server says yes
   * while nodes that take pages are connected.
   */
  set wantPages(fn: () => boolean) {
    this.#wants.pages = fn;
  }

  /**
   * Be told, after it commits, of every write of this process that appended
   * to the change log (a push, website writes sequenced, a conflict
   * resolution, a quarantine retry or discard, a schema refresh): the log's
   * new head and the entries' tables, origins and (for small commits) keys.
   * The live server pokes its nodes from it.
   */
  onCommit(fn: (n: CommitNotice) => void): void {
    this.#commitListeners.push(fn);
  }

  /** Be told of every purge this Hub runs (the server counts them in its metrics). */
  onPurge(fn: (r: PurgeResult) => void): void {
    this.#purgeListeners.push(fn);
  }

  async #purged(tx?: Tx): Promise<{ through: number; hlc: string | null }> {
    const read = async (t: Tx) => ({ through: Number((await t.getState(PURGED_THROUGH)) ?? 0), hlc: await t.getState(PURGED_HLC) });
    return tx ? read(tx) : this.db.read(read);
  }

  /**
   * A row a node creates in a table with generated integer keys must have a
   * key from the node's own range: any other key may be a stranger's row,
   * and merging into it would corrupt both. The whole push is refused.
   */
  async #checkKeyRanges(tx: Tx, nodeId: string, changes: readonly Change[]): Promise<void> {
    let range: KeyRange | undefined | null = null;
    for (const c of changes) {
      if (c.op !== 'I') continue;
      const table = this.catalogue.byName.get(c.table);
      if (!table || table.primaryKey.length !== 1 || !table.columns.some((col) => col.name === table.primaryKey[0] && col.autoIncrement)) continue;
      if (range === null) range = await keyRangeOf(tx, nodeId);
      if (!range) continue; // enrolled before key ranges existed
      const v = c.pk[0];
      const key = typeof v === 'number' ? v : v && typeof v === 'object' && '$n' in v ? Number(v.$n) : NaN;
      if (Number.isInteger(key) && key >= range.lo && key <= range.hi) {
        // In range, yet the hub has a live row there that this node never
        // wrote: the website's (or another database's) counter strayed into
        // this node's range. Never merge a new row into a stranger's.
        const meta = (await tx.getMeta(table.name, [pkKey(c.pk)])).get(pkKey(c.pk));
        if (meta?.exists && !stampedBy(meta, nodeId) && !(await tx.hasLogFrom(table.name, pkKey(c.pk), nodeId))) {
          throw new OutpostError('KEY_COLLISION', `table ${table.name}: this node created key ${JSON.stringify(v)}, in its range, but the hub already has a different row with that key (not written by this node); nothing of this push was applied (give the new row another key and sync again)`, { table: table.name, pk: c.pk });
        }
        continue;
      }
      throw new OutpostError('KEY_OUT_OF_RANGE', `table ${table.name}: this node created key ${JSON.stringify(v)}, outside its range ${range.lo}…${range.hi}; the key may be another node's row, so nothing of this push was applied (give the row a key in the range and sync again)`, { table: table.name, pk: c.pk, range });
    }
  }

  /**
   * Refuse (CLOCK_AHEAD, nothing changed) stamps more than
   * `maxClockAheadSeconds` ahead of the hub's wall clock: received, such a
   * stamp would move the hub's clock and win every conflict until the world
   * catches up with it. The node keeps its changes and, once its clock is
   * right, re-stamps them (node/clock-rebase.ts).
   */
  #checkAhead(stamps: Iterable<string>, what: 'handshake' | 'push'): void {
    const hubTimeMs = this.#now();
    const maxAheadMs = this.config.maxClockAheadSeconds * 1000;
    let worst: string | null = null;
    for (const s of stamps) if (worst === null || s > worst) worst = s;
    if (worst === null) return;
    const nodeTimeMs = parseHlc(worst).wall;
    if (nodeTimeMs - hubTimeMs <= maxAheadMs) return;
    const aheadMs = nodeTimeMs - hubTimeMs;
    throw new OutpostError(
      'CLOCK_AHEAD',
      `the node's ${what === 'handshake' ? 'clock' : 'stamps'} (${iso(nodeTimeMs)}) ${what === 'handshake' ? 'is' : 'are'} ${formatDuration(aheadMs)} ahead of the hub's (${iso(hubTimeMs)}); at most ${this.config.maxClockAheadSeconds} s are accepted. Nothing was applied and the node keeps its changes: set the lab machine's clock right (NTP), then sync again; the node re-stamps the changes it made while its clock was ahead`,
      { nodeTime: iso(nodeTimeMs), hubTime: iso(hubTimeMs), nodeTimeMs, hubTimeMs, aheadMs, maxAheadMs, hubClock: this.clock.last, stamp: worst },
    );
  }

  async #node(tx: Tx, id: string): Promise<NodeRecord> {
    const n = await tx.nodeById(id);
    if (!n || n.revokedAt) throw new OutpostError('UNAUTHORIZED', 'the node credential is unknown or revoked');
    return n;
  }

  async #sequence(tx: Tx): Promise<void> {
    await stampCaptured(tx, this.clock, this.catalogue.byName, 0, async (page) => {
      // The current values of the page's rows, one read per table (a deleted row needs none).
      const keys = new Map<TableSchema, WireValue[][]>();
      for (const s of page) {
        if (s.row.op === 'D') continue;
        const pks = keys.get(s.table);
        if (pks) pks.push(s.pk);
        else keys.set(s.table, [s.pk]);
      }
      const current = new Map<string, Map<string, RowValues>>();
      for (const [table, pks] of keys) current.set(table.name, await tx.getRows(table, pks));
      const log: Change[] = [];
      for (const s of page) {
        if (s.row.op === 'D') {
          log.push({ table: s.table.name, pk: s.pk, op: 'D', hlc: s.hlc });
          continue;
        }
        const row = current.get(s.table.name)?.get(s.key);
        if (!row) continue; // deleted since; its delete follows in the capture
        // An lww table's change wins or loses as a whole row, so it carries every column.
        const whole = s.row.op === 'I' || s.table.policy === 'lww';
        // Counter columns go as their captured deltas (counters.ts).
        const { cols, deltas } = capturedCounters(s.table, s.row, whole ? row : Object.fromEntries((s.row.cols ?? []).filter((c) => c in row).map((c) => [c, row[c]!])));
        const change: Change = { table: s.table.name, pk: s.pk, op: s.row.op, hlc: s.hlc, cols };
        if (deltas) change.deltas = deltas;
        if (s.row.op === 'U' && whole) {
          const colHlc = Object.fromEntries(Object.keys(cols).map((c) => [c, columnStamp(s.meta, c)]).filter(([, stamp]) => stamp !== s.hlc));
          if (Object.keys(colHlc).length) change.colHlc = colHlc;
        }
        log.push(change);
      }
      await this.log(tx, log.map((change) => ({ change, origin: null })));
    });
    const { maxSeq } = await tx.captureStats();
    if (maxSeq > 0) await tx.deleteCaptureThrough(maxSeq);
    await tx.setState('clock', this.clock.last);
  }

  /**
   * Apply changes as a push from `origin` would be applied (an admin's
   * retry of quarantined changes, `quarantine.ts`): website writes
   * sequenced first, resolved against the rows' current stamps, logged with
   * that origin, conflicts recorded, rows restated where the node lost.
   * A change the database refuses fails the call with APPLY_FAILED and
   * leaves the transaction as it was (a savepoint).
   */
  async applyAs(tx: Tx, origin: string, changes: Change[]): Promise<{ applied: number; conflicts: number }> {
    await this.#sequence(tx);
    const { refused } = this.scopes.size ? await checkWriteScope(tx, this.scopes, this.catalogue.byName, await nodeAttrs(tx, origin), changes) : { refused: [] };
    if (refused.length) throw new OutpostError('OUT_OF_SCOPE', `${refused[0]!.message.replace(/; the change was not applied.*$/, '')}: the change cannot be applied for this node (discard it)`, { table: refused[0]!.change.table });
    const seenTo = (await tx.nodeById(origin))?.pulledSeq ?? 0;
    return tx.savepoint(() => this.#apply(tx, origin, changes, seenTo, null));
  }

  /** `quarantined`: where changes the database refuses are listed (and kept in the quarantine); null: a refusal fails the call */
  async #apply(tx: Tx, origin: string, changes: Change[], seenTo: number, quarantined: QuarantinedNote[] | null): Promise<{ applied: number; conflicts: number }> {
    // Only when the log moved on since the node's cursor can a row have entries it has not applied (or writes it had not seen).
    const behind = await tx.hasLogAfter(null, null, seenTo, origin);
    // An insert stamped at or below a purged delete, of a row the hub has no
    // stamps of, may re-create a row whose marker was purged here but that a
    // node still keeps deleted under its own marker: it is restated, and
    // every node adopts it.
    const purged = await this.#purged(tx);
    const stale = purged.hlc === null ? [] : changes.filter((c) => c.op === 'I' && c.hlc <= purged.hlc!);
    const unknown = new Set<string>();
    if (stale.length) {
      const metas = await readMetas(tx, stale);
      for (const c of stale) if (!metas.get(c.table)?.has(pkKey(c.pk))) unknown.add(`${c.table}\u0000${pkKey(c.pk)}`);
    }
    const ctx: PushContext = { tx, catalogue: this.catalogue.byName, origin, seenTo, tick: () => this.clock.tick(), resolvers: this.#resolvers };
    // What others wrote after the node's cursor: read once (a range of the
    // log's key) when there is not too much of it, else asked per row.
    const after = behind ? await writesAfter(ctx, changes) : { concurrent: new Map(), logged: new Set<string>() };
    // A change the database refuses is quarantined (quarantine.ts); the rest is applied.
    const results = await applyQuarantining(tx, this.catalogue.byName, origin, changes, this.#now(), quarantined, hubArbiter(ctx, after?.concurrent ?? null, changes));
    // The node's winning part under its origin; what the hub decided itself (resolver values, rows brought back) under none, so every node takes it.
    await this.log(tx, results.flatMap((r) => [...(r.accepted ? [{ change: r.accepted, origin }] : []), ...(r.hubChanges ?? []).map((change) => ({ change, origin: null }))]));
    const at = this.#now();
    const conflicts = results.flatMap((r) => r.conflicts.map((c) => ({ r, c })));
    for (const { r, c } of conflicts) await tx.addConflict(conflictRecord(r.change, c, origin), at);
    for (const r of results) {
      // Restate the hub's row so the node converges to it where the node's
      // write lost or was kept back, or where the row has log entries the node
      // has not applied yet: the node applies those after its own change, the
      // hub before it, and a delete and re-insert among them would make the orders differ.
      const lost = r.restate || r.conflicts.some((c) => ('lostOrigin' in c ? (c as HubConflict).lostOrigin : origin) === origin);
      const revived = !!r.accepted && unknown.has(`${r.change.table}\u0000${pkKey(r.change.pk)}`);
      const logged = async (): Promise<boolean> => (after ? after.logged.has(rowKey(r.change.table, r.change.pk)) : tx.hasLogAfter(r.change.table, pkKey(r.change.pk), seenTo, origin));
      if (lost || revived || (behind && (r.accepted || r.hubChanges?.length) && (await logged()))) {
        await this.#restate(tx, this.catalogue.byName.get(r.change.table)!, r.change);
        // The restatement is a log entry after the cursor too (as hasLogAfter would now find).
        after?.logged.add(rowKey(r.change.table, r.change.pk));
      }
    }
    return { applied: results.filter((r) => r.accepted).length, conflicts: conflicts.length };
  }

  async #restate(tx: Tx, table: TableSchema, change: Change): Promise<void> {
    const key = pkKey(change.pk);
    const meta = (await tx.getMeta(table.name, [key])).get(key);
    if (!meta) return;
    const row = meta.exists ? (await tx.getRows(table, [change.pk])).get(key) : undefined;
    if (row) {
      const restated: Change = { table: table.name, pk: change.pk, op: 'I', hlc: meta.hlc, cols: row, restate: true };
      if (Object.keys(meta.colHlc).length) restated.colHlc = { ...meta.colHlc };
      await this.log(tx, [{ change: restated, origin: null }]);
    } else {
      await this.log(tx, [{ change: { table: table.name, pk: change.pk, op: 'D', hlc: meta.hlc, restate: true }, origin: null }]);
    }
  }

  /**
   * Append to the change log. Every hub write to the log goes here: entries
   * of scoped tables get their scope marks (scope-log.ts).
   */
  async log(tx: Tx, entries: readonly LogInput[]): Promise<void> {
    await appendScoped(tx, this.scopes, this.catalogue.byName, entries);
  }

  /** Which rows of the table the node receives: a row predicate, or null for every row. */
  #readFilter(table: TableSchema, attrs: NodeAttrs): ((row: RowValues) => boolean) | null {
    const scope = this.scopes.get(table.name);
    if (!scope?.read) return null;
    return (row) => matches(scope.read, scopeValues(scope, row), attrs);
  }

  /** The row predicate of the node's read scope of a table (null: every row), for verify. */
  async readFilter(node: NodeRecord, table: TableSchema): Promise<((row: RowValues) => boolean) | null> {
    if (!this.scopes.get(table.name)?.read) return null;
    return this.#readFilter(table, await this.db.read((tx) => nodeAttrs(tx, node.id)));
  }

  /**
   * Changes outside the node's write scope: quarantined (OUT_OF_SCOPE), and
   * the hub's state of their rows, as far as the node may see it, logged for
   * that node alone, so it drops or restores what it wrote.
   */
  async #refuseOutOfScope(tx: Tx, nodeId: string, attrs: NodeAttrs, refused: readonly ScopeRefusal[], notes: QuarantinedNote[]): Promise<void> {
    const at = this.#now();
    const rows = new Map<string, { table: TableSchema; pks: Map<string, WireValue[]> }>();
    for (const { change: c, message } of refused) {
      const id = await tx.addQuarantine({ origin: nodeId, table: c.table, pk: pkKey(c.pk), op: c.op, change: JSON.stringify(c), code: 'OUT_OF_SCOPE', message, hubId: null }, at);
      notes.push({ id, table: c.table, pk: c.pk, op: c.op, code: 'OUT_OF_SCOPE', message });
      const table = this.catalogue.byName.get(c.table)!;
      if (!rows.has(c.table)) rows.set(c.table, { table, pks: new Map() });
      rows.get(c.table)!.pks.set(pkKey(c.pk), c.pk);
    }
    for (const { table, pks } of rows.values()) {
      const states = await projectionsFor(tx, table, this.scopes.get(table.name)!, attrs, [...pks.values()]);
      await tx.appendLogs(states.map((change) => ({ change, origin: null, scope: { t: nodeId } })));
    }
  }
}

const SNAPSHOT_PAGE = 1000;
/** How long a pull's position may wait to be written with others (Hub.flushPulled). */
const PULLED_FLUSH_MS = 100;

/** Every stamp a push page carries: its clock, each change's stamp and column stamps. */
function* pushStamps(req: PushRequest): Generator<string> {
  yield req.clock;
  for (const c of req.changes) {
    yield c.hlc;
    if (c.colHlc) for (const k of Object.keys(c.colHlc)) yield c.colHlc[k]!;
  }
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} days`;
}

/**
 * Whether the row's stamps name the node: a node's accepted insert gives the
 * row its stamp, and stamps outlive log entries (purged), so a row a node
 * created is still known as its own after the log around it is gone.
 */
function stampedBy(meta: RowMeta, nodeId: string): boolean {
  // A stamp is 15 digits, '-', 8 hex digits, '-', then the node id.
  return [meta.hlc, ...Object.values(meta.colHlc)].some((h) => h.slice(25) === nodeId);
}
const ZERO = formatHlc({ wall: 0, counter: 0, node: HUB_NODE_ID });
