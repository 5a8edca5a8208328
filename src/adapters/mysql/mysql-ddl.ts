import type { ColumnSchema, TableSchema } from '../../protocol/index.ts';
import type { Role } from '../adapter.ts';
import { quoteMysql as q } from './mysql-quote.ts';
import { isNowDefault } from '../defaults.ts';

/**
 * Bookkeeping tables: the same names, columns and meaning as on SQLite.
 * Text is utf8mb4_bin: keys are case-sensitive JSON text, and a
 * case-insensitive collation would merge 'A' and 'a'. Indexed VARCHARs stay
 * within InnoDB's 3072-byte key limit (64 + 700 characters of 4 bytes).
 */
const TAIL = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

const COMMON = [
  `CREATE TABLE IF NOT EXISTS _outpost_state (k VARCHAR(700) NOT NULL PRIMARY KEY, v LONGTEXT) ${TAIL}`,
  // pk is TEXT here: an app write must never fail because its key is long.
  `CREATE TABLE IF NOT EXISTS _outpost_capture (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(64) NOT NULL, pk TEXT NOT NULL, op CHAR(1) NOT NULL, cols TEXT, ts BIGINT NOT NULL, hlc VARCHAR(255), seq BIGINT NULL UNIQUE) ${TAIL}`,
  `CREATE TABLE IF NOT EXISTS _outpost_rows (tbl VARCHAR(64) NOT NULL, pk VARCHAR(700) NOT NULL, ex TINYINT NOT NULL, hlc VARCHAR(255) NOT NULL, col_hlc LONGTEXT, PRIMARY KEY (tbl, pk)) ${TAIL}`,
  // One row that every write transaction locks first (FOR UPDATE): writers of all processes commit one at a time.
  `CREATE TABLE IF NOT EXISTS _outpost_lock (id INT NOT NULL PRIMARY KEY) ${TAIL}`,
  `INSERT IGNORE INTO _outpost_lock (id) VALUES (1)`,
  // Changes that could not be applied, with their error (hub: from nodes; node: pulled ones, and its own the hub quarantined).
  `CREATE TABLE IF NOT EXISTS _outpost_quarantine (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, at BIGINT NOT NULL, origin VARCHAR(191) NOT NULL, tbl VARCHAR(64) NOT NULL, pk TEXT NOT NULL, op CHAR(1) NOT NULL, body LONGTEXT NOT NULL, code VARCHAR(64) NOT NULL, message TEXT NOT NULL, status VARCHAR(16) NOT NULL DEFAULT 'open', attempts INT NOT NULL DEFAULT 1, resolved_at BIGINT, resolved_by VARCHAR(191), hub_id BIGINT, INDEX _outpost_quarantine_open (status, origin)) ${TAIL}`,
];

/** Columns of `_outpost_conflicts` beyond the first ones (as on SQLite). */
const CONFLICT_COLUMNS: [string, string][] = [
  ['status', "VARCHAR(16) NOT NULL DEFAULT 'auto'"], ['policy', 'VARCHAR(32)'], ['kept', 'LONGTEXT'], ['winner_origin', 'VARCHAR(191)'], ['base', 'LONGTEXT'],
  ['result', 'LONGTEXT'], ['incoming', 'LONGTEXT'], ['resolved_at', 'BIGINT'], ['resolved_by', 'VARCHAR(191)'], ['resolution', 'LONGTEXT'],
];

/** Columns of `_outpost_nodes` added by issue 7 (as on SQLite). */
const NODE_COLUMNS: [string, string][] = [['code_expires_at', 'BIGINT'], ['prev_token_hash', 'VARCHAR(191)']];

const HUB = [
  `CREATE TABLE IF NOT EXISTS _outpost_log (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(64) NOT NULL, pk VARCHAR(700) NOT NULL, op CHAR(1) NOT NULL, hlc VARCHAR(255) NOT NULL, cols LONGTEXT, col_hlc LONGTEXT, origin VARCHAR(191), INDEX _outpost_log_row (tbl, pk, seq)) ${TAIL}`,
  `CREATE TABLE IF NOT EXISTS _outpost_nodes (id VARCHAR(191) NOT NULL PRIMARY KEY, name VARCHAR(191) NOT NULL UNIQUE, code_hash VARCHAR(191), token_hash VARCHAR(191) UNIQUE, created_at BIGINT NOT NULL, joined_at BIGINT, revoked_at BIGINT, acked_seq BIGINT NOT NULL DEFAULT 0, pulled_seq BIGINT NOT NULL DEFAULT 0, last_seen BIGINT) ${TAIL}`,
  `CREATE TABLE IF NOT EXISTS _outpost_conflicts (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, at BIGINT NOT NULL, tbl VARCHAR(64) NOT NULL, pk TEXT NOT NULL, kind VARCHAR(64) NOT NULL, col VARCHAR(64), lost LONGTEXT, lost_hlc VARCHAR(255) NOT NULL, winner_hlc VARCHAR(255) NOT NULL, origin VARCHAR(191), rule VARCHAR(255) NOT NULL) ${TAIL}`,
  `CREATE TABLE IF NOT EXISTS _outpost_staging (node_id VARCHAR(191) NOT NULL, from_seq BIGINT NOT NULL, to_seq BIGINT NOT NULL, page INT NOT NULL, body LONGTEXT NOT NULL, PRIMARY KEY (node_id, page)) ${TAIL}`,
  `CREATE TABLE IF NOT EXISTS _outpost_audit (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, at BIGINT NOT NULL, actor VARCHAR(191) NOT NULL, action VARCHAR(64) NOT NULL, target VARCHAR(700), detail LONGTEXT) ${TAIL}`,
  // Conflict log columns added by issue 6 (a hub database made before gets them here).
  `ALTER TABLE _outpost_conflicts ${CONFLICT_COLUMNS.map(([name, type]) => `ADD COLUMN IF NOT EXISTS ${name} ${type}`).join(', ')}`,
  `CREATE INDEX IF NOT EXISTS _outpost_conflicts_status ON _outpost_conflicts (status)`,
  // Issue 7: code expiry and token rotation on nodes; admin accounts (argon2id hashes) and their console sessions (sha-256 of the token).
  `ALTER TABLE _outpost_nodes ${NODE_COLUMNS.map(([name, type]) => `ADD COLUMN IF NOT EXISTS ${name} ${type}`).join(', ')}`,
  `CREATE TABLE IF NOT EXISTS _outpost_admins (name VARCHAR(191) NOT NULL PRIMARY KEY, role VARCHAR(16) NOT NULL, password_hash VARCHAR(255) NOT NULL, created_at BIGINT NOT NULL) ${TAIL}`,
  `CREATE TABLE IF NOT EXISTS _outpost_sessions (token_hash VARCHAR(64) NOT NULL PRIMARY KEY, admin VARCHAR(191) NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL) ${TAIL}`,
  // Scopes: each row of a scoped table, its scope columns' values as last logged (ex 0: deleted since).
  `CREATE TABLE IF NOT EXISTS _outpost_scope_rows (tbl VARCHAR(64) NOT NULL, pk VARCHAR(700) NOT NULL, ex TINYINT NOT NULL, vals LONGTEXT NOT NULL, PRIMARY KEY (tbl, pk)) ${TAIL}`,
];

/** Rows `outpost verify --repair` overwrote, with their old values. */
const NODE = [
  `CREATE TABLE IF NOT EXISTS _outpost_repairs (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, at BIGINT NOT NULL, tbl VARCHAR(64) NOT NULL, pk TEXT NOT NULL, kind VARCHAR(32) NOT NULL, old_values LONGTEXT, old_hlc VARCHAR(255), new_values LONGTEXT, new_hlc VARCHAR(255)) ${TAIL}`,
];

export function bookkeepingDdl(role: Role): string[] {
  return role === 'hub' ? [...COMMON, ...HUB] : [...COMMON, ...NODE];
}

/** CREATE TABLE for a synced table provisioned from the hub's schema (which may come from another dialect). */
export function createTableSql(t: TableSchema, opts: { uuidType: boolean }): string {
  const keyCols = new Set([...t.primaryKey, ...t.foreignKeys.flatMap((fk) => fk.columns)]);
  const cols = t.columns.map((c) => {
    const type = mysqlType(c, keyCols.has(c.name), opts.uuidType);
    const auto = c.autoIncrement && c.kind === 'integer' && t.primaryKey.length === 1 && t.primaryKey[0] === c.name ? ' AUTO_INCREMENT' : '';
    return `${q(c.name)} ${type}${c.notNull || t.primaryKey.includes(c.name) ? ' NOT NULL' : ''}${auto}${auto ? '' : mysqlDefault(c)}`;
  });
  cols.push(`PRIMARY KEY (${t.primaryKey.map(q).join(', ')})`);
  for (const fk of t.foreignKeys) {
    cols.push(`FOREIGN KEY (${fk.columns.map(q).join(', ')}) REFERENCES ${q(fk.refTable)} (${fk.refColumns.map(q).join(', ')})`);
  }
  return `CREATE TABLE IF NOT EXISTS ${q(t.name)} (\n  ${cols.join(',\n  ')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
}

/** ALTER TABLE … ADD COLUMN for a nullable column added on the hub. */
export function addColumnSql(t: TableSchema, c: ColumnSchema, opts: { uuidType: boolean }): string {
  return `ALTER TABLE ${q(t.name)} ADD COLUMN IF NOT EXISTS ${q(c.name)} ${mysqlType(c, false, opts.uuidType)} NULL${mysqlDefault(c)}`;
}

function declaredLength(c: ColumnSchema): number | undefined {
  const m = /\(\s*(\d+)\s*\)/.exec(c.type);
  if (m) return Number(m[1]);
  return c.kind === 'text' && c.precision !== undefined ? c.precision : undefined;
}

export function mysqlType(c: ColumnSchema, isKey: boolean, uuidType: boolean): string {
  switch (c.kind) {
    case 'integer':
      // 32-bit where MariaDB or PostgreSQL declared it so (int(11), integer); SQLite's INTEGER is 64-bit.
      return /^(int(\s*\(\s*\d+\s*\))?|integer|int4)$/.test(c.type.trim()) ? 'INT' : 'BIGINT';
    case 'real':
      return 'DOUBLE';
    case 'decimal':
      if (c.precision === undefined) return 'DECIMAL(38,10)';
      return `DECIMAL(${Math.min(c.precision, 65)},${Math.min(c.scale ?? 0, 30, c.precision)})`;
    case 'text': {
      const n = declaredLength(c);
      if (n !== undefined && n > 0 && (n <= 16000 || isKey)) return `VARCHAR(${isKey ? Math.min(n, 768) : n})`;
      return isKey ? 'VARCHAR(255)' : 'TEXT';
    }
    case 'blob':
      return isKey ? 'VARBINARY(255)' : 'LONGBLOB';
    case 'boolean':
      return 'BOOLEAN';
    case 'date':
      return 'DATE';
    case 'datetime':
      return 'DATETIME(3)';
    case 'json':
      return 'JSON';
    case 'uuid':
      return uuidType ? 'UUID' : 'CHAR(36)';
  }
}

/** Only portable literal defaults: numbers, quoted strings, booleans, CURRENT_TIMESTAMP on datetimes. */
export function mysqlDefault(c: ColumnSchema): string {
  let v = c.default?.trim();
  if (!v || /^null$/i.test(v)) return '';
  // PostgreSQL writes 'text'::type
  const cast = /^('(?:[^']|'')*')::[\w ]+$/.exec(v);
  if (cast) v = cast[1]!;
  if (c.kind === 'boolean' && /^(true|false)$/i.test(v)) return ` DEFAULT ${/^true$/i.test(v) ? 1 : 0}`;
  if (/^-?\d+(\.\d+)?$/.test(v)) return ` DEFAULT ${v}`;
  if (/^'([^'\\]|'')*'$/.test(v)) return ` DEFAULT ${v}`;
  if (c.kind === 'datetime' && isNowDefault(v)) return ' DEFAULT CURRENT_TIMESTAMP(3)';
  return '';
}
