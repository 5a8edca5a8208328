import type Database from 'better-sqlite3';
import { fromWire, pkKey, toWire, type DbValue, type TableSchema, type WireValue } from '../../protocol/index.ts';
import type { RowMeta, RowValues } from '../../engine/index.ts';
import { quoteSqlite as q } from './sqlite-quote.ts';
import { canonicalValue } from '../canonical.ts';
import { columnNamed } from '../column-index.ts';
import { metaFromRow, metaToRow, type MetaRow } from '../meta-row.ts';
import type { RowStore } from '../row-store-tx.ts';

/** Statements are prepared once per connection and reused. */
export class StatementCache {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Database.Statement>();
  constructor(db: Database.Database) {
    this.#db = db;
  }
  get(sql: string): Database.Statement {
    let st = this.#cache.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#cache.set(sql, st);
    }
    return st;
  }
}

/** better-sqlite3 binds no booleans. */
export function bindValue(v: WireValue): unknown {
  const d: DbValue = fromWire(v);
  return typeof d === 'boolean' ? (d ? 1 : 0) : d;
}

export function rowToWire(t: TableSchema, row: Record<string, unknown>): RowValues {
  const out: RowValues = {};
  for (const [k, v] of Object.entries(row)) {
    const col = columnNamed(t, k);
    out[k] = col ? canonicalValue(col, v as DbValue) : toWire(v as DbValue);
  }
  return out;
}

/** Rows per multi-row statement; a remainder goes row by row, so only two statements per shape are prepared. */
const ROWS_PER_STATEMENT = 100;

/** `(?, ?), (?, ?)`: n rows of `width` parameters. */
function marks(n: number, width: number): string {
  const one = `(${Array(width).fill('?').join(', ')})`;
  return Array(n).fill(one).join(', ');
}

/** Run a statement over many rows: full chunks as multi-row statements, the rest one row at a time. */
function runChunked<T>(st: StatementCache, items: readonly T[], sql: (rows: number) => string, bind: (item: T) => unknown[]): void {
  let i = 0;
  if (items.length >= ROWS_PER_STATEMENT) {
    const many = st.get(sql(ROWS_PER_STATEMENT));
    for (; i + ROWS_PER_STATEMENT <= items.length; i += ROWS_PER_STATEMENT) many.run(...items.slice(i, i + ROWS_PER_STATEMENT).flatMap(bind));
  }
  if (i < items.length) {
    const one = st.get(sql(1));
    for (; i < items.length; i++) one.run(...bind(items[i]!));
  }
}

/** Reads and writes of synced rows and their stamps, inside an open transaction (better-sqlite3 is synchronous). */
export class SqliteRows implements RowStore {
  readonly rowLocks = false;
  readonly #st: StatementCache;
  constructor(st: StatementCache) {
    this.#st = st;
  }

  async lockRows(): Promise<void> {
    // One writer at a time: the app cannot write while this transaction is open.
  }

  async getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>> {
    const st = this.#st.get('SELECT ex, hlc, col_hlc FROM _outpost_rows WHERE tbl = ? AND pk = ?');
    const out = new Map<string, RowMeta>();
    for (const k of keys) {
      const r = st.get(table, k) as MetaRow | undefined;
      if (r) out.set(k, metaFromRow(r));
    }
    return out;
  }

  async putMetas(table: string, entries: readonly (readonly [string, RowMeta])[]): Promise<void> {
    runChunked(this.#st, entries, (n) => `INSERT INTO _outpost_rows (tbl, pk, ex, hlc, col_hlc) VALUES ${marks(n, 5)} ON CONFLICT (tbl, pk) DO UPDATE SET ex = excluded.ex, hlc = excluded.hlc, col_hlc = excluded.col_hlc`, ([key, m]) => [table, key, ...metaToRow(m)]);
  }

  async getRows(t: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>> {
    const st = this.#st.get(`SELECT * FROM ${q(t.name)} WHERE ${t.primaryKey.map((c) => `${q(c)} = ?`).join(' AND ')}`).safeIntegers(true);
    const out = new Map<string, RowValues>();
    for (const pk of pks) {
      const r = st.get(...pk.map(bindValue)) as Record<string, unknown> | undefined;
      if (r) out.set(pkKey(pk), rowToWire(t, r));
    }
    return out;
  }

  async upsertRows(t: TableSchema, rows: readonly RowValues[]): Promise<void> {
    const names = Object.keys(rows[0]!);
    const rest = names.filter((n) => !t.primaryKey.includes(n));
    const conflict = rest.length ? `DO UPDATE SET ${rest.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}` : 'DO NOTHING';
    const head = `INSERT INTO ${q(t.name)} (${names.map(q).join(', ')}) VALUES`;
    const tail = `ON CONFLICT (${t.primaryKey.map(q).join(', ')}) ${conflict}`;
    runChunked(this.#st, rows, (n) => `${head} ${marks(n, names.length)} ${tail}`, (r) => names.map((n) => bindValue(r[n] ?? null)));
  }

  async updateRow(t: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void> {
    const names = Object.keys(values).filter((n) => !t.primaryKey.includes(n));
    if (!names.length) return;
    this.#st
      .get(`UPDATE ${q(t.name)} SET ${names.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${t.primaryKey.map((c) => `${q(c)} = ?`).join(' AND ')}`)
      .run(...names.map((n) => bindValue(values[n]!)), ...pk.map(bindValue));
  }

  async deleteRows(t: TableSchema, pks: readonly (readonly WireValue[])[]): Promise<void> {
    const st = this.#st.get(`DELETE FROM ${q(t.name)} WHERE ${t.primaryKey.map((c) => `${q(c)} = ?`).join(' AND ')}`);
    for (const pk of pks) st.run(...pk.map(bindValue));
  }

  async scanRows(t: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]> {
    const keys = t.primaryKey.map(q).join(', ');
    const where = after ? `WHERE (${keys}) > (${t.primaryKey.map(() => '?').join(', ')})` : '';
    const st = this.#st.get(`SELECT * FROM ${q(t.name)} ${where} ORDER BY ${keys} LIMIT ?`).safeIntegers(true);
    const params = after ? [...after.map((v) => bindValue(v as WireValue)), limit] : [limit];
    return (st.all(...params) as Record<string, unknown>[]).map((r) => rowToWire(t, r));
  }
}
