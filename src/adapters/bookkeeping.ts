import { pkKey, type Change, type WireValue } from '../protocol/index.ts';
import type { AdminRecord, AdminRole, AuditEntry, AuditRecord, BookkeepingTx, ScopeMark, ScopeRow, SessionRecord, QuarantineEntry, QuarantineRecord, QuarantineStatus, CaptureRow, ConflictEntry, ConflictRecord, LogEntry, MarkerRef, NodeRecord, RepairEntry, RepairRecord } from './adapter.ts';
import type { CaptureStamp } from '../engine/index.ts';
import type { SqlRunner } from './sql-runner.ts';
import { chunks } from './chunks.ts';

/** A restatement (the hub's whole row state) is logged with an op letter of its own. */
const RESTATED: Record<Change['op'], string> = { I: 'R', U: 'R', D: 'X' };

/** Rows per multi-row bookkeeping statement (7 parameters each, well below every dialect's limit). */
const ROWS_PER_STATEMENT = 500;
/** Rows per batched stamp UPDATE (its CASE is scanned once per updated row). */
const STAMPS_PER_STATEMENT = 200;

export interface BookkeepingSql {
  /** an integer parameter in an expression whose type the database cannot infer: `CAST(? AS BIGINT)`, say */
  intParam: string;
  /**
   * PostgreSQL: append log entries as `unnest` of seven text arrays, 5,000
   * per statement (a VALUES list of 500 costs more to parse and bind than
   * the rows cost to write)
   */
  logArrays?: boolean;
}

/** Log entries per statement when they go as arrays. */
const LOG_ROWS_PER_ARRAY_STATEMENT = 5000;

/**
 * The `_outpost_*` bookkeeping in SQL that every dialect accepts: `?`
 * parameters, no upsert syntax, no dialect functions. Dialects create the
 * tables (types differ) and supply the runner.
 */
export class SqlBookkeeping implements BookkeepingTx {
  readonly #db: SqlRunner;
  readonly #sql: BookkeepingSql;

  constructor(db: SqlRunner, sql: BookkeepingSql = { intParam: '?' }) {
    this.#db = db;
    this.#sql = sql;
  }

  async getState(key: string): Promise<string | null> {
    const rows = await this.#db.all<{ v: string | null }>('SELECT v FROM _outpost_state WHERE k = ?', [key]);
    return rows[0]?.v ?? null;
  }

  async allState(): Promise<Map<string, string | null>> {
    const rows = await this.#db.all<{ k: string; v: string | null }>('SELECT k, v FROM _outpost_state');
    return new Map(rows.map((r) => [r.k, r.v]));
  }

  async setState(key: string, value: string | null): Promise<void> {
    const n = await this.#db.run('UPDATE _outpost_state SET v = ? WHERE k = ?', [value, key]);
    if (n === 0) await this.#db.run('INSERT INTO _outpost_state (k, v) VALUES (?, ?)', [key, value]);
  }

  async readCapture(o: { afterSeq?: number; throughSeq?: number; unstamped?: boolean; afterId?: number; limit: number }): Promise<CaptureRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (o.unstamped) where.push('seq IS NULL');
    else where.push('seq IS NOT NULL');
    if (o.afterSeq !== undefined) (where.push('seq > ?'), params.push(o.afterSeq));
    if (o.throughSeq !== undefined) (where.push('seq <= ?'), params.push(o.throughSeq));
    // Where no index holds only the unstamped rows, a scan from the first id would pass every stamped one.
    if (o.afterId !== undefined) (where.push('id > ?'), params.push(o.afterId));
    params.push(o.limit);
    const rows = await this.#db.all<{ id: number | bigint; seq: number | bigint | null; tbl: string; pk: string; op: string; cols: string | null; ts: number | bigint | string; hlc: string | null }>(
      `SELECT id, seq, tbl, pk, op, cols, ts, hlc FROM _outpost_capture WHERE ${where.join(' AND ')} ORDER BY ${o.unstamped ? 'id' : 'seq'} LIMIT ?`,
      params,
    );
    return rows.map((r) => {
      const row: CaptureRow = {
        id: Number(r.id),
        seq: r.seq === null ? null : Number(r.seq),
        table: r.tbl,
        // Triggers write JSON in their dialect's own spelling ("[1, \"a\"]"); keys compare in one form.
        pk: pkKey(JSON.parse(r.pk) as WireValue[]),
        op: r.op as CaptureRow['op'],
        cols: null,
        ts: Number(r.ts),
        hlc: r.hlc,
      };
      if (r.cols !== null) Object.assign(row, parseCaptureCols(r.cols));
      return row;
    });
  }

  async setCaptureStamp(id: number, hlc: string, seq: number): Promise<void> {
    await this.#db.run('UPDATE _outpost_capture SET hlc = ?, seq = ? WHERE id = ?', [hlc, seq, id]);
  }

  async setCaptureStamps(stamps: readonly CaptureStamp[]): Promise<void> {
    for (const part of chunks(stamps, STAMPS_PER_STATEMENT)) {
      if (part.length === 1) {
        await this.setCaptureStamp(part[0]!.id, part[0]!.hlc, part[0]!.seq);
        continue;
      }
      const whens = part.map(() => 'WHEN ? THEN ?').join(' ');
      const seqs = part.map(() => `WHEN ? THEN ${this.#sql.intParam}`).join(' ');
      await this.#db.run(
        `UPDATE _outpost_capture SET hlc = CASE id ${whens} END, seq = CASE id ${seqs} END WHERE id IN (${part.map(() => '?').join(', ')})`,
        [...part.flatMap((s) => [s.id, s.hlc]), ...part.flatMap((s) => [s.id, s.seq]), ...part.map((s) => s.id)],
      );
    }
  }

  async deleteCaptureThrough(seq: number): Promise<void> {
    // Only stamped rows: a row an open app transaction inserted has no seq yet.
    await this.#db.run('DELETE FROM _outpost_capture WHERE seq <= ?', [seq]);
  }

  async captureStats(): Promise<{ count: number; maxSeq: number }> {
    const [r] = await this.#db.all<{ n: number | bigint | string; m: number | bigint | string | null }>('SELECT COUNT(*) AS n, MAX(seq) AS m FROM _outpost_capture');
    return { count: Number(r?.n ?? 0), maxSeq: Number(r?.m ?? 0) };
  }

  async appendLog(change: Change, origin: string | null, scope?: ScopeMark): Promise<number> {
    return this.#db.insertReturningId('INSERT INTO _outpost_log (tbl, pk, op, hlc, cols, col_hlc, origin) VALUES (?, ?, ?, ?, ?, ?, ?)', logValues(change, origin, scope), 'seq');
  }

  async appendLogs(entries: readonly { change: Change; origin: string | null; scope?: ScopeMark }[]): Promise<void> {
    if (this.#sql.logArrays) {
      // Rows are inserted in array order (WITH ORDINALITY … ORDER BY), so they take ids in list order.
      for (const part of chunks(entries, LOG_ROWS_PER_ARRAY_STATEMENT)) {
        const cols: unknown[][] = [[], [], [], [], [], [], []];
        for (const e of part) logValues(e.change, e.origin, e.scope).forEach((v, i) => cols[i]!.push(v));
        await this.#db.run(
          'INSERT INTO _outpost_log (tbl, pk, op, hlc, cols, col_hlc, origin) SELECT tbl, pk, op, hlc, cols, col_hlc, origin FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) WITH ORDINALITY AS u(tbl, pk, op, hlc, cols, col_hlc, origin, n) ORDER BY n',
          cols,
        );
      }
      return;
    }
    // Rows of one INSERT … VALUES list take ids in list order (log writers hold the commit lock).
    for (const part of chunks(entries, ROWS_PER_STATEMENT)) {
      await this.#db.run(
        `INSERT INTO _outpost_log (tbl, pk, op, hlc, cols, col_hlc, origin) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        part.flatMap((e) => logValues(e.change, e.origin, e.scope)),
      );
    }
  }

  async readLog(o: { after: number; limit: number; excludeOrigin: string | null; tables: readonly string[] }): Promise<{ entries: LogEntry[]; scannedTo: number; head: number }> {
    const head = await this.maxLogSeq();
    if (o.tables.length === 0) return { entries: [], scannedTo: Math.max(o.after, head), head };
    const marks = o.tables.map(() => '?').join(', ');
    const rows = await this.#db.all<LogRow>(
      `SELECT seq, tbl, pk, op, hlc, cols, col_hlc, origin FROM _outpost_log WHERE seq > ? AND (origin IS NULL OR origin <> ?) AND tbl IN (${marks}) ORDER BY seq LIMIT ?`,
      [o.after, o.excludeOrigin ?? '', ...o.tables, o.limit],
    );
    const entries = rows.map(toLogEntry);
    // A full page ends at its last entry; a short page has seen everything there is.
    const scannedTo = entries.length === o.limit ? entries[entries.length - 1]!.seq : Math.max(o.after, head);
    return { entries, scannedTo, head };
  }

  async readRowLog(table: string, pk: string, o: { after?: number; through?: number; limit: number }): Promise<LogEntry[]> {
    const rows = await this.#db.all<LogRow>(
      'SELECT seq, tbl, pk, op, hlc, cols, col_hlc, origin FROM _outpost_log WHERE tbl = ? AND pk = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
      [table, pk, o.after ?? 0, o.through ?? Number.MAX_SAFE_INTEGER, o.limit],
    );
    return rows.map(toLogEntry);
  }

  async hasLogAfter(table: string | null, pk: string | null, after: number, origin: string): Promise<boolean> {
    const rows = table === null || pk === null
      ? await this.#db.all('SELECT 1 AS x FROM _outpost_log WHERE seq > ? AND (origin IS NULL OR origin <> ?) LIMIT 1', [after, origin])
      : await this.#db.all('SELECT 1 AS x FROM _outpost_log WHERE tbl = ? AND pk = ? AND seq > ? AND (origin IS NULL OR origin <> ?) LIMIT 1', [table, pk, after, origin]);
    return rows.length > 0;
  }

  async hasLogFrom(table: string, pk: string, origin: string): Promise<boolean> {
    const rows = await this.#db.all('SELECT 1 AS x FROM _outpost_log WHERE tbl = ? AND pk = ? AND origin = ? LIMIT 1', [table, pk, origin]);
    return rows.length > 0;
  }

  async maxLogSeq(): Promise<number> {
    const [r] = await this.#db.all<{ m: number | bigint | null }>('SELECT MAX(seq) AS m FROM _outpost_log');
    return Number(r?.m ?? 0);
  }

  async readLogDeletes(after: number, through: number): Promise<MarkerRef[]> {
    const rows = await this.#db.all<{ tbl: string; pk: string; hlc: string }>(
      `SELECT tbl, pk, hlc FROM _outpost_log WHERE seq > ? AND seq <= ? AND op IN ('D', '${RESTATED.D}') ORDER BY seq`,
      [after, through],
    );
    return rows.map((r) => ({ table: r.tbl, pk: pkKey(JSON.parse(r.pk) as WireValue[]), hlc: r.hlc }));
  }

  async deleteLogThrough(seq: number): Promise<number> {
    // The newest entry stays, whatever `seq` says: its seq is the log's head (snapshot cursors, pull heads).
    const head = await this.maxLogSeq();
    const to = Math.min(seq, head - 1);
    return to > 0 ? this.#db.run('DELETE FROM _outpost_log WHERE seq <= ?', [to]) : 0;
  }

  async listMarkers(o: { maxHlc: string; after: { table: string; pk: string } | null; limit: number }): Promise<MarkerRef[]> {
    const where = ['ex = 0', 'hlc <= ?'];
    const params: unknown[] = [o.maxHlc];
    if (o.after) (where.push('(tbl > ? OR (tbl = ? AND pk > ?))'), params.push(o.after.table, o.after.table, o.after.pk));
    params.push(o.limit);
    const rows = await this.#db.all<{ tbl: string; pk: string; hlc: string }>(`SELECT tbl, pk, hlc FROM _outpost_rows WHERE ${where.join(' AND ')} ORDER BY tbl, pk LIMIT ?`, params);
    return rows.map((r) => ({ table: r.tbl, pk: r.pk, hlc: r.hlc }));
  }

  async deleteMarkers(markers: readonly MarkerRef[]): Promise<number> {
    let n = 0;
    for (const part of chunks(markers, STAMPS_PER_STATEMENT)) {
      // Only a marker still carrying that stamp: a row deleted again (or re-created) since keeps its stamps.
      n += await this.#db.run(
        `DELETE FROM _outpost_rows WHERE ex = 0 AND (${part.map(() => '(tbl = ? AND pk = ? AND hlc = ?)').join(' OR ')})`,
        part.flatMap((m) => [m.table, m.pk, m.hlc]),
      );
    }
    return n;
  }

  async createNode(n: { id: string; name: string; codeHash: string; createdAt: number; codeExpiresAt?: number | null }): Promise<void> {
    await this.#db.run('INSERT INTO _outpost_nodes (id, name, code_hash, code_expires_at, created_at, acked_seq, pulled_seq) VALUES (?, ?, ?, ?, ?, 0, 0)', [n.id, n.name, n.codeHash, n.codeExpiresAt ?? null, n.createdAt]);
  }

  async nodeById(id: string): Promise<NodeRecord | null> {
    return this.#oneNode('id = ?', id);
  }

  async nodeByName(name: string): Promise<NodeRecord | null> {
    return this.#oneNode('name = ?', name);
  }

  async nodeByCodeHash(codeHash: string): Promise<NodeRecord | null> {
    return this.#oneNode('code_hash = ? AND token_hash IS NULL AND revoked_at IS NULL', codeHash);
  }

  async nodeByTokenHash(tokenHash: string): Promise<NodeRecord | null> {
    return this.#oneNode('token_hash = ? AND revoked_at IS NULL', tokenHash);
  }

  async nodeByPrevTokenHash(tokenHash: string): Promise<NodeRecord | null> {
    return this.#oneNode('prev_token_hash = ? AND revoked_at IS NULL', tokenHash);
  }

  async setNodeToken(id: string, tokenHash: string, joinedAt: number): Promise<void> {
    await this.#db.run(
      'UPDATE _outpost_nodes SET token_hash = ?, prev_token_hash = NULL, code_hash = NULL, code_expires_at = NULL, joined_at = COALESCE(joined_at, ?) WHERE id = ?',
      [tokenHash, joinedAt, id],
    );
  }

  async setNodeCode(id: string, codeHash: string, codeExpiresAt: number | null): Promise<void> {
    await this.#db.run('UPDATE _outpost_nodes SET code_hash = ?, code_expires_at = ?, token_hash = NULL, prev_token_hash = NULL WHERE id = ?', [codeHash, codeExpiresAt, id]);
  }

  async rotateNodeToken(id: string, tokenHash: string, prevTokenHash: string): Promise<void> {
    await this.#db.run('UPDATE _outpost_nodes SET token_hash = ?, prev_token_hash = ? WHERE id = ?', [tokenHash, prevTokenHash, id]);
  }

  async confirmNodeToken(id: string): Promise<void> {
    await this.#db.run('UPDATE _outpost_nodes SET prev_token_hash = NULL WHERE id = ?', [id]);
  }

  async updateNode(id: string, f: { ackedSeq?: number; pulledSeq?: number; lastSeen?: number; revokedAt?: number }): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (f.ackedSeq !== undefined) (sets.push('acked_seq = ?'), params.push(f.ackedSeq));
    if (f.pulledSeq !== undefined) (sets.push('pulled_seq = ?'), params.push(f.pulledSeq));
    if (f.lastSeen !== undefined) (sets.push('last_seen = ?'), params.push(f.lastSeen));
    if (f.revokedAt !== undefined) (sets.push('revoked_at = ?'), params.push(f.revokedAt));
    if (sets.length === 0) return;
    await this.#db.run(`UPDATE _outpost_nodes SET ${sets.join(', ')} WHERE id = ?`, [...params, id]);
  }

  async listNodes(): Promise<NodeRecord[]> {
    const rows = await this.#db.all<NodeRow>(`SELECT ${NODE_COLS} FROM _outpost_nodes ORDER BY name`);
    return rows.map(toNode);
  }

  async blockedNodeIds(): Promise<string[]> {
    const rows = await this.#db.all<{ id: string }>('SELECT id FROM _outpost_nodes WHERE joined_at IS NOT NULL AND (revoked_at IS NOT NULL OR token_hash IS NULL)');
    return rows.map((r) => r.id);
  }

  async addConflict(c: ConflictRecord, at: number): Promise<void> {
    await this.#db.run(
      `INSERT INTO _outpost_conflicts (${CONFLICT_INSERT}) VALUES (${CONFLICT_INSERT.split(',').map(() => '?').join(', ')})`,
      [at, c.table, c.pk, c.kind, c.column, c.lost, c.lostHlc, c.winnerHlc, c.origin, c.rule, c.status ?? 'auto', c.policy ?? null, c.kept ?? null, c.winnerOrigin ?? null, c.base ?? null, c.result ?? null, c.incoming ?? null],
    );
  }

  async listConflicts(o: { after?: number; status?: ConflictEntry['status']; table?: string; pk?: string; limit: number }): Promise<ConflictEntry[]> {
    const where = ['id > ?'];
    const params: unknown[] = [o.after ?? 0];
    if (o.status) (where.push('status = ?'), params.push(o.status));
    if (o.table) (where.push('tbl = ?'), params.push(o.table));
    if (o.pk) (where.push('pk = ?'), params.push(o.pk));
    params.push(o.limit);
    const rows = await this.#db.all<ConflictRow>(`SELECT ${CONFLICT_SELECT} FROM _outpost_conflicts WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, params);
    return rows.map(toConflict);
  }

  async conflictById(id: number): Promise<ConflictEntry | null> {
    const rows = await this.#db.all<ConflictRow>(`SELECT ${CONFLICT_SELECT} FROM _outpost_conflicts WHERE id = ?`, [id]);
    return rows[0] ? toConflict(rows[0]) : null;
  }

  async resolveConflict(id: number, by: string, resolution: string, result: string | null, at: number): Promise<boolean> {
    const n = await this.#db.run("UPDATE _outpost_conflicts SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolution = ?, result = ? WHERE id = ? AND status = 'open'", [at, by, resolution, result, id]);
    return n === 1;
  }

  async conflictCounts(): Promise<Record<ConflictEntry['status'], number>> {
    const rows = await this.#db.all<{ status: string; n: number | bigint | string }>('SELECT status, COUNT(*) AS n FROM _outpost_conflicts GROUP BY status');
    const out = { auto: 0, open: 0, resolved: 0 };
    for (const r of rows) if (r.status in out) out[r.status as keyof typeof out] = Number(r.n);
    return out;
  }

  async countConflicts(): Promise<number> {
    const [r] = await this.#db.all<{ n: number | bigint }>('SELECT COUNT(*) AS n FROM _outpost_conflicts');
    return Number(r?.n ?? 0);
  }

  async createAdmin(a: AdminRecord): Promise<void> {
    await this.#db.run('INSERT INTO _outpost_admins (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)', [a.name, a.role, a.passwordHash, a.createdAt]);
  }

  async adminByName(name: string): Promise<AdminRecord | null> {
    const rows = await this.#db.all<{ name: string; role: string; password_hash: string; created_at: number | bigint }>(
      'SELECT name, role, password_hash, created_at FROM _outpost_admins WHERE name = ?', [name]);
    const r = rows[0];
    return r ? { name: r.name, role: r.role as AdminRole, passwordHash: r.password_hash, createdAt: Number(r.created_at) } : null;
  }

  async countAdmins(): Promise<number> {
    const [r] = await this.#db.all<{ n: number | bigint | string }>('SELECT COUNT(*) AS n FROM _outpost_admins');
    return Number(r?.n ?? 0);
  }

  async createSession(s: { tokenHash: string; admin: string; createdAt: number; expiresAt: number }): Promise<void> {
    await this.#db.run('INSERT INTO _outpost_sessions (token_hash, admin, created_at, expires_at) VALUES (?, ?, ?, ?)', [s.tokenHash, s.admin, s.createdAt, s.expiresAt]);
  }

  async sessionByHash(tokenHash: string): Promise<SessionRecord | null> {
    const rows = await this.#db.all<{ admin: string; role: string; created_at: number | bigint; expires_at: number | bigint }>(
      'SELECT s.admin, a.role, s.created_at, s.expires_at FROM _outpost_sessions s JOIN _outpost_admins a ON a.name = s.admin WHERE s.token_hash = ?', [tokenHash]);
    const r = rows[0];
    return r ? { admin: r.admin, role: r.role as AdminRole, createdAt: Number(r.created_at), expiresAt: Number(r.expires_at) } : null;
  }

  async deleteSession(tokenHash: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM _outpost_sessions WHERE token_hash = ?', [tokenHash])) > 0;
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return this.#db.run('DELETE FROM _outpost_sessions WHERE expires_at <= ?', [now]);
  }

  async addAudit(e: AuditRecord, at: number): Promise<void> {
    await this.#db.run('INSERT INTO _outpost_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)', [at, e.actor, e.action, e.target, e.detail]);
  }

  async listAudit(o: { after?: number; limit: number }): Promise<AuditEntry[]> {
    const rows = await this.#db.all<{ id: number | bigint | string; at: number | bigint | string; actor: string; action: string; target: string | null; detail: string | null }>(
      'SELECT id, at, actor, action, target, detail FROM _outpost_audit WHERE id > ? ORDER BY id LIMIT ?',
      [o.after ?? 0, o.limit],
    );
    return rows.map((r) => ({ id: Number(r.id), at: Number(r.at), actor: r.actor, action: r.action, target: r.target, detail: r.detail }));
  }

  async addQuarantine(r: QuarantineRecord, at: number): Promise<number> {
    return this.#db.insertReturningId(
      "INSERT INTO _outpost_quarantine (at, origin, tbl, pk, op, body, code, message, status, attempts, hub_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?)",
      [at, r.origin, r.table, r.pk, r.op, r.change, r.code, r.message, r.hubId],
      'id',
    );
  }

  async listQuarantine(o: { status?: QuarantineStatus; origin?: string; after?: number; limit: number }): Promise<QuarantineEntry[]> {
    const where = ['id > ?'];
    const params: unknown[] = [o.after ?? 0];
    if (o.status !== undefined) (where.push('status = ?'), params.push(o.status));
    if (o.origin !== undefined) (where.push('origin = ?'), params.push(o.origin));
    params.push(o.limit);
    const rows = await this.#db.all<QuarantineRow>(`SELECT ${QUARANTINE_COLS} FROM _outpost_quarantine WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, params);
    return rows.map(toQuarantine);
  }

  async getQuarantine(id: number): Promise<QuarantineEntry | null> {
    const rows = await this.#db.all<QuarantineRow>(`SELECT ${QUARANTINE_COLS} FROM _outpost_quarantine WHERE id = ?`, [id]);
    return rows[0] ? toQuarantine(rows[0]) : null;
  }

  async updateQuarantine(id: number, f: { status?: QuarantineStatus; attempts?: number; code?: string; message?: string; resolvedAt?: number; resolvedBy?: string }): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (f.status !== undefined) (sets.push('status = ?'), params.push(f.status));
    if (f.attempts !== undefined) (sets.push('attempts = ?'), params.push(f.attempts));
    if (f.code !== undefined) (sets.push('code = ?'), params.push(f.code));
    if (f.message !== undefined) (sets.push('message = ?'), params.push(f.message));
    if (f.resolvedAt !== undefined) (sets.push('resolved_at = ?'), params.push(f.resolvedAt));
    if (f.resolvedBy !== undefined) (sets.push('resolved_by = ?'), params.push(f.resolvedBy));
    if (sets.length === 0) return;
    await this.#db.run(`UPDATE _outpost_quarantine SET ${sets.join(', ')} WHERE id = ?`, [...params, id]);
  }

  async countQuarantine(status?: QuarantineStatus): Promise<number> {
    const [r] = status === undefined
      ? await this.#db.all<{ n: number | bigint | string }>('SELECT COUNT(*) AS n FROM _outpost_quarantine')
      : await this.#db.all<{ n: number | bigint | string }>('SELECT COUNT(*) AS n FROM _outpost_quarantine WHERE status = ?', [status]);
    return Number(r?.n ?? 0);
  }

  async addRepair(r: RepairRecord, at: number): Promise<void> {
    await this.#db.run(
      'INSERT INTO _outpost_repairs (at, tbl, pk, kind, old_values, old_hlc, new_values, new_hlc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [at, r.table, r.pk, r.kind, r.oldValues, r.oldHlc, r.newValues, r.newHlc],
    );
  }

  async listRepairs(o: { after?: number; limit: number }): Promise<RepairEntry[]> {
    const rows = await this.#db.all<{ id: number | bigint | string; at: number | bigint | string; tbl: string; pk: string; kind: string; old_values: string | null; old_hlc: string | null; new_values: string | null; new_hlc: string | null }>(
      'SELECT id, at, tbl, pk, kind, old_values, old_hlc, new_values, new_hlc FROM _outpost_repairs WHERE id > ? ORDER BY id LIMIT ?',
      [o.after ?? 0, o.limit],
    );
    return rows.map((r) => ({
      id: Number(r.id), at: Number(r.at), table: r.tbl, pk: r.pk, kind: r.kind as RepairRecord['kind'],
      oldValues: r.old_values, oldHlc: r.old_hlc, newValues: r.new_values, newHlc: r.new_hlc,
    }));
  }

  async getScopeRows(table: string, keys: readonly string[]): Promise<Map<string, ScopeRow>> {
    const out = new Map<string, ScopeRow>();
    for (const part of chunks(keys, ROWS_PER_STATEMENT)) {
      const rows = await this.#db.all<{ pk: string; ex: number | bigint | string; vals: string }>(
        `SELECT pk, ex, vals FROM _outpost_scope_rows WHERE tbl = ? AND pk IN (${part.map(() => '?').join(', ')})`,
        [table, ...part],
      );
      for (const r of rows) out.set(r.pk, { exists: Number(r.ex) === 1, vals: r.vals });
    }
    return out;
  }

  async putScopeRows(table: string, rows: readonly [string, ScopeRow][]): Promise<void> {
    for (const part of chunks(rows, ROWS_PER_STATEMENT)) {
      await this.#db.run(`DELETE FROM _outpost_scope_rows WHERE tbl = ? AND pk IN (${part.map(() => '?').join(', ')})`, [table, ...part.map(([k]) => k)]);
      await this.#db.run(
        `INSERT INTO _outpost_scope_rows (tbl, pk, ex, vals) VALUES ${part.map(() => '(?, ?, ?, ?)').join(', ')}`,
        part.flatMap(([k, r]) => [table, k, r.exists ? 1 : 0, r.vals]),
      );
    }
  }

  async clearScopeRows(table: string): Promise<void> {
    await this.#db.run('DELETE FROM _outpost_scope_rows WHERE tbl = ?', [table]);
  }

  async putStaged(nodeId: string, from: number, to: number, page: number, body: string): Promise<void> {
    await this.#db.run('DELETE FROM _outpost_staging WHERE node_id = ? AND page = ?', [nodeId, page]);
    await this.#db.run('INSERT INTO _outpost_staging (node_id, from_seq, to_seq, page, body) VALUES (?, ?, ?, ?, ?)', [nodeId, from, to, page, body]);
  }

  async countStaged(nodeId: string, from: number, to: number): Promise<number> {
    const [r] = await this.#db.all<{ n: number | bigint | string }>('SELECT COUNT(*) AS n FROM _outpost_staging WHERE node_id = ? AND from_seq = ? AND to_seq = ?', [nodeId, from, to]);
    return Number(r?.n ?? 0);
  }

  async getStaged(nodeId: string, from: number, to: number): Promise<string[]> {
    const rows = await this.#db.all<{ body: string }>('SELECT body FROM _outpost_staging WHERE node_id = ? AND from_seq = ? AND to_seq = ? ORDER BY page', [nodeId, from, to]);
    return rows.map((r) => r.body);
  }

  async clearStaged(nodeId: string): Promise<number> {
    return this.#db.run('DELETE FROM _outpost_staging WHERE node_id = ?', [nodeId]);
  }

  async #oneNode(where: string, value: string): Promise<NodeRecord | null> {
    const rows = await this.#db.all<NodeRow>(`SELECT ${NODE_COLS} FROM _outpost_nodes WHERE ${where}`, [value]);
    return rows[0] ? toNode(rows[0]) : null;
  }
}

const CONFLICT_INSERT = 'at, tbl, pk, kind, col, lost, lost_hlc, winner_hlc, origin, rule, status, policy, kept, winner_origin, base, result, incoming';
const CONFLICT_SELECT = `id, ${CONFLICT_INSERT}, resolved_at, resolved_by, resolution`;
interface ConflictRow {
  id: number | bigint | string; at: number | bigint | string; tbl: string; pk: string; kind: string; col: string | null; lost: string | null; lost_hlc: string; winner_hlc: string;
  origin: string | null; rule: string; status: string; policy: string | null; kept: string | null; winner_origin: string | null; base: string | null; result: string | null;
  incoming: string | null; resolved_at: number | bigint | string | null; resolved_by: string | null; resolution: string | null;
}
function toConflict(r: ConflictRow): ConflictEntry {
  return {
    id: Number(r.id), at: Number(r.at), table: r.tbl, pk: r.pk, kind: r.kind, column: r.col, lost: r.lost, lostHlc: r.lost_hlc, winnerHlc: r.winner_hlc,
    origin: r.origin, rule: r.rule, status: r.status as ConflictEntry['status'], policy: r.policy, kept: r.kept, winnerOrigin: r.winner_origin, base: r.base,
    result: r.result, incoming: r.incoming, resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at), resolvedBy: r.resolved_by, resolution: r.resolution,
  };
}

interface LogRow { seq: number | bigint; tbl: string; pk: string; op: string; hlc: string; cols: string | null; col_hlc: string | null; origin: string | null }

function toLogEntry(r: LogRow): LogEntry {
  const restated = r.op === RESTATED.I || r.op === RESTATED.D;
  const change: Change = { table: r.tbl, pk: JSON.parse(r.pk), op: restated ? (r.op === RESTATED.D ? 'D' : 'I') : (r.op as Change['op']), hlc: r.hlc };
  if (restated) change.restate = true;
  let scope: ScopeMark | undefined;
  if (r.cols) {
    const cols = JSON.parse(r.cols) as Record<string, WireValue> & { [DELTAS_KEY]?: Record<string, number>; [SCOPE_KEY]?: ScopeMark };
    if (cols[SCOPE_KEY]) {
      scope = cols[SCOPE_KEY];
      delete cols[SCOPE_KEY];
    }
    if (cols[DELTAS_KEY]) {
      change.deltas = cols[DELTAS_KEY];
      delete cols[DELTAS_KEY];
      if (Object.keys(cols).length) change.cols = cols;
    } else if (change.op !== 'D' || Object.keys(cols).length) change.cols = cols;
  }
  if (r.col_hlc) change.colHlc = JSON.parse(r.col_hlc);
  if (r.origin) change.origin = r.origin;
  return scope ? { seq: Number(r.seq), change, origin: r.origin, scope } : { seq: Number(r.seq), change, origin: r.origin };
}

/**
 * The `cols` list a capture trigger wrote: `name,quantity=-3,` → names
 * [name, quantity], deltas { quantity: -3 }. A token whose number is not a
 * safe integer (an overflow) keeps its name and no delta: an absolute change.
 */
export function parseCaptureCols(text: string): { cols: string[]; deltas?: Record<string, number> } {
  const cols: string[] = [];
  let deltas: Record<string, number> | undefined;
  for (const token of text.split(',')) {
    if (!token) continue;
    const eq = token.indexOf('=');
    if (eq < 0) {
      cols.push(token);
      continue;
    }
    const name = token.slice(0, eq);
    cols.push(name);
    const n = Number(token.slice(eq + 1));
    if (Number.isSafeInteger(n)) (deltas ??= {})[name] = n;
  }
  return deltas ? { cols, deltas } : { cols };
}

/** Log entries keep a change's deltas inside the `cols` JSON under this key (column names never start with `$`). */
const DELTAS_KEY = '$deltas';

/** ... and a scoped table's scope mark (hub/scopes.ts) under this one. */
const SCOPE_KEY = '$scope';

function logValues(change: Change, origin: string | null, scope?: ScopeMark): unknown[] {
  let cols: Record<string, unknown> | undefined = change.deltas ? { ...change.cols, [DELTAS_KEY]: change.deltas } : change.cols;
  if (scope) cols = { ...cols, [SCOPE_KEY]: scope };
  return [change.table, JSON.stringify(change.pk), change.restate ? RESTATED[change.op] : change.op, change.hlc, cols ? JSON.stringify(cols) : null, change.colHlc ? JSON.stringify(change.colHlc) : null, origin];
}

const QUARANTINE_COLS = 'id, at, origin, tbl, pk, op, body, code, message, status, attempts, resolved_at, resolved_by, hub_id';
interface QuarantineRow {
  id: number | bigint | string;
  at: number | bigint | string;
  origin: string;
  tbl: string;
  pk: string;
  op: string;
  body: string;
  code: string;
  message: string;
  status: string;
  attempts: number | bigint | string;
  resolved_at: number | bigint | string | null;
  resolved_by: string | null;
  hub_id: number | bigint | string | null;
}
function toQuarantine(r: QuarantineRow): QuarantineEntry {
  return {
    id: Number(r.id), at: Number(r.at), origin: r.origin, table: r.tbl, pk: r.pk, op: r.op as QuarantineEntry['op'], change: r.body,
    code: r.code, message: r.message, status: r.status as QuarantineStatus, attempts: Number(r.attempts),
    resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at), resolvedBy: r.resolved_by, hubId: r.hub_id === null ? null : Number(r.hub_id),
  };
}

const NODE_COLS = 'id, name, created_at, joined_at, revoked_at, acked_seq, pulled_seq, last_seen, code_expires_at, CASE WHEN prev_token_hash IS NULL THEN 0 ELSE 1 END AS rotating';
interface NodeRow {
  id: string;
  name: string;
  created_at: number | bigint;
  joined_at: number | bigint | null;
  revoked_at: number | bigint | null;
  acked_seq: number | bigint;
  pulled_seq: number | bigint;
  last_seen: number | bigint | null;
  code_expires_at: number | bigint | null;
  rotating: number | bigint | string;
}
const num = (v: number | bigint | null): number | null => (v === null ? null : Number(v));
function toNode(r: NodeRow): NodeRecord {
  return {
    id: r.id,
    name: r.name,
    createdAt: Number(r.created_at),
    joinedAt: num(r.joined_at),
    revokedAt: num(r.revoked_at),
    ackedSeq: Number(r.acked_seq),
    pulledSeq: Number(r.pulled_seq),
    lastSeen: num(r.last_seen),
    codeExpiresAt: num(r.code_expires_at),
    rotating: Number(r.rotating) === 1,
  };
}
