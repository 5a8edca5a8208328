import type { Role } from '../adapter.ts';
import type { TableSchema } from '../../protocol/index.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { isNowDefault } from '../defaults.ts';
import { kindOf } from './sqlite-introspect.ts';

const COMMON = [
  `CREATE TABLE IF NOT EXISTS _outpost_state (k TEXT PRIMARY KEY, v TEXT)`,
  `CREATE TABLE IF NOT EXISTS _outpost_applying (x INTEGER)`,
  // Every app write inserts a row here, so it carries no index the insert must update: ids are rowids
  // (no AUTOINCREMENT, whose sqlite_sequence row is written on every insert; an id is used again only
  // once every row above it is gone, which keeps the order of rows still there), and seq is unique among
  // stamped rows only (a partial index, which unstamped rows do not enter). A database made before
  // 2026-12 keeps its AUTOINCREMENT and inline UNIQUE (and gets the index too): it works the same, a
  // little slower. Bench: the app's INSERT/UPDATE/DELETE with triggers 1.42x -> 1.26x of no triggers.
  `CREATE TABLE IF NOT EXISTS _outpost_capture (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, cols TEXT, ts INTEGER NOT NULL, hlc TEXT, seq INTEGER)`,
  `CREATE UNIQUE INDEX IF NOT EXISTS _outpost_capture_seq ON _outpost_capture (seq) WHERE seq IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS _outpost_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, ex INTEGER NOT NULL, hlc TEXT NOT NULL, col_hlc TEXT, PRIMARY KEY (tbl, pk)) WITHOUT ROWID`,
  // Changes that could not be applied, with their error (hub: from nodes; node: pulled ones, and its own the hub quarantined).
  `CREATE TABLE IF NOT EXISTS _outpost_quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, origin TEXT NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, body TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', attempts INTEGER NOT NULL DEFAULT 1, resolved_at INTEGER, resolved_by TEXT, hub_id INTEGER)`,
  `CREATE INDEX IF NOT EXISTS _outpost_quarantine_open ON _outpost_quarantine (status, origin)`,
];

/** Columns of `_outpost_conflicts` beyond the first ones (see ARCHITECTURE.md, Bookkeeping tables). */
const CONFLICT_COLUMNS: [string, string][] = [
  ['status', "TEXT NOT NULL DEFAULT 'auto'"], ['policy', 'TEXT'], ['kept', 'TEXT'], ['winner_origin', 'TEXT'], ['base', 'TEXT'],
  ['result', 'TEXT'], ['incoming', 'TEXT'], ['resolved_at', 'INTEGER'], ['resolved_by', 'TEXT'], ['resolution', 'TEXT'],
];

/** Columns of `_outpost_nodes` added by issue 7: when a code expires, and the token a rotation replaced until the new one is used. */
const NODE_COLUMNS: [string, string][] = [['code_expires_at', 'INTEGER'], ['prev_token_hash', 'TEXT']];

const HUB = [
  `CREATE TABLE IF NOT EXISTS _outpost_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, hlc TEXT NOT NULL, cols TEXT, col_hlc TEXT, origin TEXT)`,
  `CREATE INDEX IF NOT EXISTS _outpost_log_row ON _outpost_log (tbl, pk, seq)`,
  `CREATE TABLE IF NOT EXISTS _outpost_nodes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, code_hash TEXT, token_hash TEXT UNIQUE, created_at INTEGER NOT NULL, joined_at INTEGER, revoked_at INTEGER, acked_seq INTEGER NOT NULL DEFAULT 0, pulled_seq INTEGER NOT NULL DEFAULT 0, last_seen INTEGER)`,
  `CREATE TABLE IF NOT EXISTS _outpost_conflicts (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL, kind TEXT NOT NULL, col TEXT, lost TEXT, lost_hlc TEXT NOT NULL, winner_hlc TEXT NOT NULL, origin TEXT, rule TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS _outpost_staging (node_id TEXT NOT NULL, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, page INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (node_id, page))`,
  `CREATE TABLE IF NOT EXISTS _outpost_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT, detail TEXT)`,
  // Conflict log columns added by issue 6 (a hub database made before gets them here; a duplicate column is ignored).
  ...CONFLICT_COLUMNS.map(([name, type]) => `ALTER TABLE _outpost_conflicts ADD COLUMN ${name} ${type}`),
  `CREATE INDEX IF NOT EXISTS _outpost_conflicts_status ON _outpost_conflicts (status)`,
  // Issue 7: code expiry and token rotation on nodes; admin accounts (argon2id hashes) and their console sessions (sha-256 of the token).
  ...NODE_COLUMNS.map(([name, type]) => `ALTER TABLE _outpost_nodes ADD COLUMN ${name} ${type}`),
  `CREATE TABLE IF NOT EXISTS _outpost_admins (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS _outpost_sessions (token_hash TEXT PRIMARY KEY, admin TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`,
  // Scopes: each row of a scoped table, its scope columns' values as last logged (ex 0: deleted since).
  `CREATE TABLE IF NOT EXISTS _outpost_scope_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, ex INTEGER NOT NULL, vals TEXT NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID`,
];

/** Rows `outpost verify --repair` overwrote, with their old values. */
const NODE = [
  `CREATE TABLE IF NOT EXISTS _outpost_repairs (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL, kind TEXT NOT NULL, old_values TEXT, old_hlc TEXT, new_values TEXT, new_hlc TEXT)`,
];

export function bookkeepingDdl(role: Role): string[] {
  return role === 'hub' ? [...COMMON, ...HUB] : [...COMMON, ...NODE];
}

/** CREATE TABLE for a synced table provisioned from the hub's schema. */
export function createTableSql(t: TableSchema): string {
  // A generated integer key becomes SQLite's rowid, with AUTOINCREMENT so that its counter can be set to the node's key range.
  const auto = t.primaryKey.length === 1 && t.columns.some((c) => c.name === t.primaryKey[0] && c.autoIncrement && c.kind === 'integer');
  const cols = t.columns.map((c) =>
    auto && c.name === t.primaryKey[0]
      ? `${quoteSqlite(c.name)} INTEGER PRIMARY KEY AUTOINCREMENT`
      : `${quoteSqlite(c.name)} ${sqliteType(c.kind, c.type, c.precision, c.scale)}${c.notNull ? ' NOT NULL' : ''}${sqliteDefault(c)}`,
  );
  if (!auto) cols.push(`PRIMARY KEY (${t.primaryKey.map(quoteSqlite).join(', ')})`);
  for (const fk of t.foreignKeys) {
    cols.push(`FOREIGN KEY (${fk.columns.map(quoteSqlite).join(', ')}) REFERENCES ${quoteSqlite(fk.refTable)} (${fk.refColumns.map(quoteSqlite).join(', ')})`);
  }
  return `CREATE TABLE IF NOT EXISTS ${quoteSqlite(t.name)} (\n  ${cols.join(',\n  ')}\n)`;
}

/** ALTER TABLE … ADD COLUMN for a nullable column added on the hub. */
export function addColumnSql(t: TableSchema, c: TableSchema['columns'][number]): string {
  return `ALTER TABLE ${quoteSqlite(t.name)} ADD COLUMN ${quoteSqlite(c.name)} ${sqliteType(c.kind, c.type, c.precision, c.scale)}${sqliteDefault(c)}`;
}

/**
 * SQLite keeps the declared type when SQLite reads it back as the same kind
 * (types from a SQLite hub, most MySQL and PostgreSQL names); otherwise the
 * kind's own name, which introspection maps back to that kind.
 */
function sqliteType(kind: TableSchema['columns'][number]['kind'], declared: string, precision?: number, scale?: number): string {
  if (/^[A-Za-z][A-Za-z0-9 ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$/.test(declared) && kindOf(declared) === kind) return declared;
  switch (kind) {
    case 'integer': return 'INTEGER';
    case 'real': return 'REAL';
    case 'decimal': return precision === undefined ? 'DECIMAL' : `DECIMAL(${precision}, ${scale ?? 0})`;
    case 'blob': return 'BLOB';
    case 'boolean': return 'BOOLEAN';
    case 'date': return 'DATE';
    case 'datetime': return 'DATETIME';
    case 'json': return 'JSON';
    case 'uuid': return 'UUID';
    default: return 'TEXT';
  }
}

/**
 * A column DEFAULT as SQLite accepts it: literals as they are, anything else
 * as a parenthesised expression (SQLite's own introspection drops the parens).
 */
function sqliteDefault(c: TableSchema['columns'][number]): string {
  const v = c.default?.trim();
  if (!v || v.includes(';')) return '';
  // The current time from another dialect: written as the canonical ISO text (UTC, milliseconds).
  if (c.kind === 'datetime' && isNowDefault(v) && !/strftime|datetime\s*\(/i.test(v)) return ` DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;
  const literal = /^(-?\d+(\.\d+)?|'([^']|'')*'|NULL|TRUE|FALSE|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME)$/i.test(v);
  return literal ? ` DEFAULT ${v}` : ` DEFAULT (${v})`;
}
