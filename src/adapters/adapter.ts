import type { Change, ColumnSchema, ForeignKeySchema, TableSchema, WireValue } from '../protocol/index.ts';
import type { CaptureRow, CaptureStamp, ReplicaTx, RowValues } from '../engine/index.ts';

export type Dialect = 'sqlite' | 'mysql' | 'postgres';
export type Role = 'hub' | 'node';

/** Differences between databases, stated once, as flags (never `if (dialect === …)`). */
export interface AdapterCapabilities {
  /** auto-increment ids become visible in commit order, so the change log id is a gap-free cursor */
  readonly commitOrderedIds: boolean;
  /** foreign key checks (of tables Outpost creates) are deferred to commit inside a write transaction */
  readonly deferrableForeignKeys: boolean;
  /**
   * `write(fn, { checkForeignKeys: false })` really turns every foreign key
   * check off; where it cannot (PostgreSQL without superuser: only DEFERRABLE
   * keys are deferred), a snapshot orders rows of self-referencing tables
   * parents first itself
   */
  readonly foreignKeyChecksOff: boolean;
  /** DDL takes part in transactions */
  readonly transactionalDdl: boolean;
}

/** A table as introspection finds it, before the hub config gives it a direction and policy. */
export interface IntrospectedTable {
  name: string;
  columns: ColumnSchema[];
  primaryKey: string[];
  foreignKeys: ForeignKeySchema[];
}

export type { CaptureRow } from '../engine/index.ts';

/** One entry of the hub's commit-ordered change log. */
export interface LogEntry {
  seq: number;
  change: Change;
  origin: string | null;
  /** scoped tables: the row's scope columns before and after the change, or the one node a projection is for (hub/scopes.ts) */
  scope?: ScopeMark;
}

/** A scoped table's row as the scope bookkeeping knows it: its scope columns' values (JSON) as last logged. */
export interface ScopeRow {
  exists: boolean;
  vals: string;
}

/**
 * What a log entry of a scoped table records for read scopes: the row's
 * scope-column values before (`b`) and after (`a`) the change, absent where
 * there was no row; or `t`, the one node a restatement was logged for.
 */
export interface ScopeMark {
  b?: Record<string, WireValue>;
  a?: Record<string, WireValue>;
  t?: string;
}

export interface NodeRecord {
  id: string;
  name: string;
  createdAt: number;
  joinedAt: number | null;
  revokedAt: number | null;
  ackedSeq: number;
  pulledSeq: number;
  lastSeen: number | null;
  /** when the node's outstanding one-time code stops working (ms); null: no code outstanding, or one without expiry */
  codeExpiresAt: number | null;
  /** a rotation handed out a new token that the node has not used yet (its previous token still works until then) */
  rotating: boolean;
}

/** An admin account of the console (`_outpost_admins`); the password is kept as an argon2id hash only. */
export type AdminRole = 'admin' | 'viewer';
export interface AdminRecord {
  name: string;
  role: AdminRole;
  passwordHash: string;
  createdAt: number;
}

/** A console session (`_outpost_sessions`), found by the hash of its token, with its admin's current role. */
export interface SessionRecord {
  admin: string;
  role: AdminRole;
  createdAt: number;
  expiresAt: number;
}

/** A delete marker (`_outpost_rows` with `ex = 0`): the row, by pkKey, and the stamp of its delete. */
export interface MarkerRef {
  table: string;
  pk: string;
  hlc: string;
}

export interface ConflictRecord {
  table: string;
  pk: string;
  kind: string;
  column: string | null;
  /** JSON of the losing side's value (null: a delete) */
  lost: string | null;
  lostHlc: string;
  winnerHlc: string;
  /** who wrote the losing side (a node id; null: the hub) */
  origin: string | null;
  rule: string;
  /** `auto` (decided by its rule), `open` (waiting for an admin), `resolved` (by an admin); default auto */
  status?: 'auto' | 'open' | 'resolved';
  /** the policy applied */
  policy?: string | null;
  /** JSON of the winning side's value */
  kept?: string | null;
  /** who wrote the winning side (a node id; null: the hub) */
  winnerOrigin?: string | null;
  /** JSON of the value before both writes, where known */
  base?: string | null;
  /** JSON of what the row holds afterwards */
  result?: string | null;
  /** JSON of the node's change as it came */
  incoming?: string | null;
}

/** A conflict as stored, with its id and the admin's resolution if any. */
export interface ConflictEntry extends ConflictRecord {
  id: number;
  at: number;
  status: 'auto' | 'open' | 'resolved';
  resolvedAt: number | null;
  resolvedBy: string | null;
  /** JSON: what the admin decided ({take} or {set}) and the change written */
  resolution: string | null;
}

/** An admin action kept in the hub's audit trail (`_outpost_audit`). */
export interface AuditRecord {
  /** who: `api` (the admin token), `cli:<user>`, or an admin's name */
  actor: string;
  /** what, as a stable verb: `conflict.resolve`, `quarantine.retry`, `quarantine.discard`, … */
  action: string;
  /** what it acted on: `conflict:<id>`, `quarantine:<id>`, … */
  target: string | null;
  /** JSON of the particulars (the values taken, the outcome) */
  detail: string | null;
}

export interface AuditEntry extends AuditRecord {
  id: number;
  at: number;
}

export type QuarantineStatus = 'open' | 'applied' | 'discarded';

/**
 * A change that could not be applied (it broke a constraint), kept in
 * `_outpost_quarantine` with its error until an admin retries or discards it.
 */
export interface QuarantineRecord {
  /** where the change came from: a node id on the hub; on a node `hub` (a pulled change), or the node's own id (its change the hub quarantined) */
  origin: string;
  table: string;
  /** the row's key, `pkKey` form */
  pk: string;
  op: 'I' | 'U' | 'D';
  /** JSON of the change as it arrived */
  change: string;
  /** the error: `APPLY_FAILED`, or `HELD` for a change queued behind an earlier quarantined change of its row */
  code: string;
  message: string;
  /** node role: the hub's quarantine id, where this records the node's own change that the hub quarantined; else null */
  hubId: number | null;
}

export interface QuarantineEntry extends QuarantineRecord {
  id: number;
  at: number;
  status: QuarantineStatus;
  /** how often it was tried: 1 when quarantined, +1 per retry */
  attempts: number;
  resolvedAt: number | null;
  resolvedBy: string | null;
}

/** A node row that `outpost verify --repair` overwrote with the hub's version (`_outpost_repairs`). */
export interface RepairRecord {
  table: string;
  /** the row's key, `pkKey` form */
  pk: string;
  kind: 'missing-on-node' | 'missing-on-hub' | 'values-differ';
  /** the node's row before the repair, JSON of its values; null where the node had no row */
  oldValues: string | null;
  /** the node's row stamp before the repair; null where it had none */
  oldHlc: string | null;
  /** the hub's row that replaced it, JSON of its values; null where the row was deleted */
  newValues: string | null;
  newHlc: string | null;
}

/** A repair as recorded: `id` in recording order, `at` in ms. */
export interface RepairEntry extends RepairRecord {
  id: number;
  at: number;
}

/** Bookkeeping kept in the `_outpost_*` tables, the same on every dialect. */
export interface BookkeepingTx {
  getState(key: string): Promise<string | null>;
  /** every state key and value at once */
  allState(): Promise<Map<string, string | null>>;
  setState(key: string, value: string | null): Promise<void>;

  readCapture(opts: { afterSeq?: number; throughSeq?: number; unstamped?: boolean; afterId?: number; limit: number }): Promise<CaptureRow[]>;
  setCaptureStamp(id: number, hlc: string, seq: number): Promise<void>;
  setCaptureStamps(stamps: readonly CaptureStamp[]): Promise<void>;
  /** forget stamped capture rows through `seq` (unstamped rows are never touched) */
  deleteCaptureThrough(seq: number): Promise<void>;
  captureStats(): Promise<{ count: number; maxSeq: number }>;

  appendLog(change: Change, origin: string | null, scope?: ScopeMark): Promise<number>;
  /** append many entries, in order, in as few statements as the database allows */
  appendLogs(entries: readonly { change: Change; origin: string | null; scope?: ScopeMark }[]): Promise<void>;
  readLog(opts: { after: number; limit: number; excludeOrigin: string | null; tables: readonly string[] }): Promise<{ entries: LogEntry[]; scannedTo: number; head: number }>;
  maxLogSeq(): Promise<number>;
  /** one row's log entries in seq order, in (after, through] (restatements have `restate` set) */
  readRowLog(table: string, pk: string, opts: { after?: number; through?: number; limit: number }): Promise<LogEntry[]>;
  /** whether any log entry for the row came from `origin` (the node created or changed it) */
  hasLogFrom(table: string, pk: string, origin: string): Promise<boolean>;
  /** whether the row (or, with table and pk null, any row) has log entries after `after` that did not come from `origin` */
  hasLogAfter(table: string | null, pk: string | null, after: number, origin: string): Promise<boolean>;

  /** the rows deleted by log entries with seq in (after, through] (deletes and delete restatements), with the delete's stamp */
  readLogDeletes(after: number, through: number): Promise<MarkerRef[]>;
  /** purge log entries with seq <= `seq`, never the newest entry (the log head); returns how many went */
  deleteLogThrough(seq: number): Promise<number>;
  /** delete markers with a stamp at or below `maxHlc`, in (table, pk) order after `after` */
  listMarkers(opts: { maxHlc: string; after: { table: string; pk: string } | null; limit: number }): Promise<MarkerRef[]>;
  /** drop these delete markers where they still carry the given stamp; returns how many went */
  deleteMarkers(markers: readonly MarkerRef[]): Promise<number>;

  createNode(node: { id: string; name: string; codeHash: string; createdAt: number; codeExpiresAt?: number | null }): Promise<void>;
  nodeById(id: string): Promise<NodeRecord | null>;
  nodeByName(name: string): Promise<NodeRecord | null>;
  /** the node whose outstanding code has this hash (not revoked, no token; the caller checks `codeExpiresAt`) */
  nodeByCodeHash(codeHash: string): Promise<NodeRecord | null>;
  nodeByTokenHash(tokenHash: string): Promise<NodeRecord | null>;
  /** the node whose token before an unconfirmed rotation has this hash (not revoked) */
  nodeByPrevTokenHash(tokenHash: string): Promise<NodeRecord | null>;
  /** redeem a code: the token's hash; the code and any previous token are gone; `joinedAt` is kept from a first join */
  setNodeToken(id: string, tokenHash: string, joinedAt: number): Promise<void>;
  /** a new one-time code for the node; its current and previous tokens stop working */
  setNodeCode(id: string, codeHash: string, codeExpiresAt: number | null): Promise<void>;
  /** rotation: the new token's hash, and the hash of the token the node used, which keeps working until the new one is used */
  rotateNodeToken(id: string, tokenHash: string, prevTokenHash: string): Promise<void>;
  /** the node used its new token: the previous one stops working */
  confirmNodeToken(id: string): Promise<void>;
  updateNode(id: string, fields: { ackedSeq?: number; pulledSeq?: number; lastSeen?: number; revokedAt?: number }): Promise<void>;
  listNodes(): Promise<NodeRecord[]>;
  /** ids of joined nodes that hold no working credential now: revoked, or re-keyed and waiting for their code (the live server closes their sockets) */
  blockedNodeIds(): Promise<string[]>;

  addConflict(c: ConflictRecord, at: number): Promise<void>;
  countConflicts(): Promise<number>;
  /** conflicts in id order after `after`, optionally only those with this status, or of one row */
  listConflicts(opts: { after?: number; status?: ConflictEntry['status']; table?: string; pk?: string; limit: number }): Promise<ConflictEntry[]>;
  conflictById(id: number): Promise<ConflictEntry | null>;
  /** mark an open conflict resolved; false when it was not open (someone else resolved it) */
  resolveConflict(id: number, by: string, resolution: string, result: string | null, at: number): Promise<boolean>;
  /** conflicts by status */
  conflictCounts(): Promise<Record<ConflictEntry['status'], number>>;

  createAdmin(a: AdminRecord): Promise<void>;
  adminByName(name: string): Promise<AdminRecord | null>;
  countAdmins(): Promise<number>;
  createSession(s: { tokenHash: string; admin: string; createdAt: number; expiresAt: number }): Promise<void>;
  /** the session with this token hash, whatever its expiry (the caller checks it), if its admin still exists */
  sessionByHash(tokenHash: string): Promise<SessionRecord | null>;
  /** returns whether a session went */
  deleteSession(tokenHash: string): Promise<boolean>;
  /** drop sessions expired at `now`; returns how many went */
  deleteExpiredSessions(now: number): Promise<number>;

  /** record an admin action in the audit trail (hub role) */
  addAudit(e: AuditRecord, at: number): Promise<void>;
  /** the audit trail in recording order, after id `after` */
  listAudit(opts: { after?: number; limit: number }): Promise<AuditEntry[]>;

  /** keep a change that could not be applied; returns its id */
  addQuarantine(r: QuarantineRecord, at: number): Promise<number>;
  /** quarantined changes in id order, optionally of one status and/or origin, after id `after` */
  listQuarantine(opts: { status?: QuarantineStatus; origin?: string; after?: number; limit: number }): Promise<QuarantineEntry[]>;
  getQuarantine(id: number): Promise<QuarantineEntry | null>;
  updateQuarantine(id: number, fields: { status?: QuarantineStatus; attempts?: number; code?: string; message?: string; resolvedAt?: number; resolvedBy?: string }): Promise<void>;
  /** how many quarantined changes there are (of one status) */
  countQuarantine(status?: QuarantineStatus): Promise<number>;

  /** record a node row overwritten by `verify --repair` (node role only) */
  addRepair(r: RepairRecord, at: number): Promise<void>;
  /** recorded repairs in recording order, after id `after` */
  listRepairs(opts: { after?: number; limit: number }): Promise<RepairEntry[]>;

  /** scopes (hub): the scope columns' values of these rows as last logged (`vals` JSON; `exists` false: deleted since) */
  getScopeRows(table: string, keys: readonly string[]): Promise<Map<string, ScopeRow>>;
  /** scopes (hub): set these rows' entries */
  putScopeRows(table: string, rows: readonly [string, ScopeRow][]): Promise<void>;
  /** scopes (hub): forget every entry of the table (its scope was configured anew) */
  clearScopeRows(table: string): Promise<void>;

  putStaged(nodeId: string, from: number, to: number, page: number, body: string): Promise<void>;
  /** how many pages of this group are staged */
  countStaged(nodeId: string, from: number, to: number): Promise<number>;
  getStaged(nodeId: string, from: number, to: number): Promise<string[]>;
  /** drop every staged page of the node; returns how many went */
  clearStaged(nodeId: string): Promise<number>;
}

export interface WriteOptions {
  /** false: do not check foreign keys in this transaction (default true) */
  checkForeignKeys?: boolean;
  /**
   * true: this transaction only holds what can be fetched again (a page of
   * the hub's log with its cursor): its commit may wait for the next durable
   * one instead of reaching the disk itself. A power cut can then undo it
   * (together with its cursor, so the node pulls it again); a process crash
   * cannot. SQLite commits it with `synchronous = NORMAL`; on the servers,
   * whose durability is their own configuration, it changes nothing.
   */
  refetchable?: boolean;
}

/** Everything valid inside one transaction. */
export interface Tx extends ReplicaTx, BookkeepingTx {
  /**
   * Run fn inside a SAVEPOINT of this write transaction. Constraints are
   * checked inside it (foreign keys the transaction defers to commit are
   * checked per statement for its duration), so a change that breaks one
   * makes fn fail with APPLY_FAILED: the savepoint is rolled back, the
   * transaction stays usable, and the error is rethrown. Any other failure
   * (DB_BUSY, a lost connection) is rethrown and fails the whole
   * transaction. Savepoints nest. SQLite: foreign-key violations still
   * pending from before the savepoint are no longer checked at commit
   * (open savepoints before writing synced rows, as Outpost does).
   */
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
  /** stream a table's rows in primary-key order, a page at a time */
  scanRows(table: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]>;
}

/**
 * One database, any dialect. Every dialect implements this interface and
 * passes the same conformance suite.
 */
export interface Adapter {
  readonly dialect: Dialect;
  readonly caps: AdapterCapabilities;
  /** what the URL names, without credentials, for messages */
  readonly description: string;

  /** user tables (never `_outpost_*`) with columns, keys and foreign keys */
  introspect(): Promise<IntrospectedTable[]>;
  /** create the `_outpost_*` tables for this role (idempotent) */
  installBookkeeping(role: Role): Promise<void>;
  /**
   * Install triggers for a synced table. `capture` records writes;
   * `readonly` makes app writes fail (a `down` table on a node); `none` removes
   * them. The first install records the rows already there as inserts, timed
   * now, or at the epoch with `initialAtEpoch` (a joining node's rows then
   * lose to any the hub already has, and the losers are logged as conflicts).
   */
  installTriggers(table: TableSchema, mode: 'capture' | 'readonly' | 'none', opts?: { initialAtEpoch?: boolean }): Promise<{ initialRows: number }>;
  /** create a synced table that is missing here, from the hub's schema */
  createTable(table: TableSchema): Promise<void>;
  /**
   * Make the database's own key generator for this table (AUTO_INCREMENT, a
   * sequence, SQLite's AUTOINCREMENT counter) hand out `next` or above, where
   * it is below that now. Returns false where the table has no generator this
   * can set (a SQLite rowid table without AUTOINCREMENT).
   */
  setKeyStart(table: TableSchema, next: number): Promise<boolean>;
  /** add a nullable column the hub's table gained (a schema refresh) */
  addColumn(table: TableSchema, column: ColumnSchema): Promise<void>;
  /** run an SQL script of this dialect as it is (creating an example schema, say); never with request data */
  execScript(sql: string): Promise<void>;

  /**
   * A write transaction whose changes the capture triggers do not record
   * (echo suppression). Foreign keys are checked at commit; a snapshot, whose
   * rows are consistent as a whole but not page by page, may turn the check
   * off. A change that breaks a constraint fails with APPLY_FAILED.
   */
  write<T>(fn: (tx: Tx) => Promise<T>, opts?: WriteOptions): Promise<T>;
  /** a read transaction over one consistent snapshot */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
