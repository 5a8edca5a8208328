import { OutpostError, fromWire, pkKey, toWire, type ColumnSchema, type DbValue, type TableSchema, type WireValue } from '../../protocol/index.ts';
import type { RowMeta, RowValues } from '../../engine/index.ts';
import { canonicalValue, compactJson, decimalValue, isoDatetime } from '../canonical.ts';
import type { SqlRunner } from '../sql-runner.ts';
import { quoteMysql as q } from './mysql-quote.ts';
import { metaFromRow, metaToRow, type MetaRow } from '../meta-row.ts';
import { chunks } from '../chunks.ts';
import { columnNamed } from '../column-index.ts';

/** Keys per IN (…) list. */
const CHUNK = 500;
/** Rows per multi-row INSERT of stamps. */
const ROWS_PER_STATEMENT = 1000;
/** Parameters per multi-row INSERT of rows (mysql2 escapes them into the statement text). */
const PARAMS_PER_STATEMENT = 20_000;

/** A wire value as mysql2 binds it for this column (BigInt is written as bare digits). */
export function bindValue(col: ColumnSchema | undefined, v: WireValue): unknown {
  if (v === null) return null;
  if (col?.kind === 'datetime' && typeof v === 'string') {
    const iso = isoDatetime(v);
    return iso ? iso.slice(0, 23).replace('T', ' ') : v;
  }
  if (col?.kind === 'boolean' && typeof v === 'boolean') return v ? 1 : 0;
  if (col?.kind === 'json' && typeof v !== 'string') return JSON.stringify(v);
  const d: DbValue = fromWire(v);
  return typeof d === 'boolean' ? (d ? 1 : 0) : d;
}

/** A value as mysql2 reads it (dateStrings, bigNumberStrings), in canonical wire form. */
export function readValue(col: ColumnSchema | undefined, raw: unknown): WireValue {
  if (raw === null || raw === undefined) return null;
  if (!col) return toWire(raw as DbValue);
  switch (col.kind) {
    case 'datetime':
      return typeof raw === 'string' ? (isoDatetime(raw) ?? raw) : raw instanceof Date ? raw.toISOString() : toWire(raw as DbValue);
    case 'date':
      return typeof raw === 'string' ? raw.slice(0, 10) : raw instanceof Date ? raw.toISOString().slice(0, 10) : toWire(raw as DbValue);
    case 'json':
      return compactJson(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw);
    case 'uuid':
      return typeof raw === 'string' ? raw.toLowerCase() : toWire(raw as DbValue);
    case 'text':
      return Buffer.isBuffer(raw) ? raw.toString('utf8') : canonicalValue(col, raw as DbValue);
    default:
      return canonicalValue(col, raw as DbValue);
  }
}

/** A key value as the database would read it back, so requested keys match rows found. */
function canonicalKeyValue(col: ColumnSchema | undefined, v: WireValue): WireValue {
  if (typeof v !== 'string' || !col) return v;
  if (col.kind === 'uuid') return v.toLowerCase();
  if (col.kind === 'datetime') return isoDatetime(v) ?? v;
  if (col.kind === 'decimal') return decimalValue(v, col.scale);
  return v;
}

export function rowToWire(t: TableSchema, row: Record<string, unknown>): RowValues {
  const out: RowValues = {};
  for (const [k, v] of Object.entries(row)) out[k] = readValue(columnNamed(t, k), v);
  return out;
}

/** Reads and writes of synced rows and their stamps, inside an open transaction. */
export class MysqlRows {
  readonly rowLocks = true;
  readonly #db: SqlRunner;
  constructor(db: SqlRunner) {
    this.#db = db;
  }

  #col(t: TableSchema, name: string): ColumnSchema | undefined {
    return columnNamed(t, name);
  }

  #keyBinds(t: TableSchema, pk: readonly WireValue[]): unknown[] {
    return t.primaryKey.map((c, i) => bindValue(this.#col(t, c), pk[i] ?? null));
  }

  /** `key IN (…)` over one or more key columns, with its parameters. */
  #keyIn(t: TableSchema, pks: readonly (readonly WireValue[])[]): { sql: string; params: unknown[] } {
    const params = pks.flatMap((pk) => this.#keyBinds(t, pk));
    if (t.primaryKey.length === 1) return { sql: `${q(t.primaryKey[0]!)} IN (${pks.map(() => '?').join(', ')})`, params };
    const tuple = `(${t.primaryKey.map(() => '?').join(', ')})`;
    return { sql: `(${t.primaryKey.map(q).join(', ')}) IN (${pks.map(() => tuple).join(', ')})`, params };
  }

  async lockRows(t: TableSchema, pks: readonly WireValue[][]): Promise<void> {
    for (const part of chunks(pks, CHUNK)) {
      const { sql, params } = this.#keyIn(t, part);
      await this.#db.all(`SELECT 1 AS x FROM ${q(t.name)} WHERE ${sql} ORDER BY ${t.primaryKey.map(q).join(', ')} FOR UPDATE`, params);
    }
  }

  async getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>> {
    const out = new Map<string, RowMeta>();
    for (const part of chunks(keys, CHUNK)) {
      const rows = await this.#db.all<MetaRow & { pk: string }>(
        `SELECT pk, ex, hlc, col_hlc FROM _outpost_rows WHERE tbl = ? AND pk IN (${part.map(() => '?').join(', ')})`,
        [table, ...part],
      );
      for (const r of rows) out.set(r.pk, metaFromRow(r));
    }
    return out;
  }

  async putMetas(table: string, entries: readonly (readonly [string, RowMeta])[]): Promise<void> {
    for (const part of chunks(entries, ROWS_PER_STATEMENT)) {
      await this.#db.run(
        `INSERT INTO _outpost_rows (tbl, pk, ex, hlc, col_hlc) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')} ON DUPLICATE KEY UPDATE ex = VALUES(ex), hlc = VALUES(hlc), col_hlc = VALUES(col_hlc)`,
        part.flatMap(([key, m]) => [table, key, ...metaToRow(m)]),
      );
    }
  }

  async getRows(t: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>> {
    const out = new Map<string, RowValues>();
    const keyCols = t.primaryKey.map((c) => this.#col(t, c));
    for (const part of chunks(pks, CHUNK)) {
      const { sql, params } = this.#keyIn(t, part);
      const rows = await this.#db.all<Record<string, unknown>>(`SELECT * FROM ${q(t.name)} WHERE ${sql}`, params);
      const found = new Map<string, RowValues>();
      for (const r of rows) {
        const w = rowToWire(t, r);
        found.set(pkKey(t.primaryKey.map((c) => w[c] ?? null)), w);
      }
      for (const pk of part) {
        const row = found.get(pkKey(pk.map((v, i) => canonicalKeyValue(keyCols[i], v))));
        if (row) out.set(pkKey(pk), row);
      }
    }
    return out;
  }

  async upsertRows(t: TableSchema, rows: readonly RowValues[]): Promise<void> {
    const names = Object.keys(rows[0]!);
    const cols = names.map((n) => this.#col(t, n));
    const rest = names.filter((n) => !t.primaryKey.includes(n));
    // ON DUPLICATE KEY UPDATE fires on any unique index, not only the key:
    // a new row whose values clash with a different row on another unique
    // index would overwrite that row. The key columns are assigned first,
    // to NULL where the row found is not the one with this key, so the
    // statement fails (NOT NULL; the writer's session is strict) instead.
    const guard = t.primaryKey.map((c) => `${q(c)} = IF(${q(c)} <=> VALUES(${q(c)}), ${q(c)}, NULL)`);
    const update = [...guard, ...rest.map((c) => `${q(c)} = VALUES(${q(c)})`)].join(', ');
    const tuple = `(${names.map(() => '?').join(', ')})`;
    for (const part of chunks(rows, Math.max(1, Math.floor(PARAMS_PER_STATEMENT / names.length)))) {
      try {
        await this.#db.run(
          `INSERT INTO ${q(t.name)} (${names.map(q).join(', ')}) VALUES ${part.map(() => tuple).join(', ')} ON DUPLICATE KEY UPDATE ${update}`,
          part.flatMap((r) => names.map((n, i) => bindValue(cols[i], r[n] ?? null))),
        );
      } catch (e) {
        const m = (e as { errno?: unknown; message?: unknown });
        if (m.errno === 1048 && typeof m.message === 'string' && t.primaryKey.some((c) => m.message === `Column '${c}' cannot be null`)) {
          throw new OutpostError('APPLY_FAILED', `the database refused a change: a row of ${t.name} has the same value as a different row on a unique index (Duplicate entry on a unique index other than the primary key)`, { constraint: 'ER_DUP_ENTRY' });
        }
        throw e;
      }
    }
  }

  async updateRow(t: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void> {
    const names = Object.keys(values).filter((n) => !t.primaryKey.includes(n));
    if (!names.length) return;
    await this.#db.run(
      `UPDATE ${q(t.name)} SET ${names.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${t.primaryKey.map((c) => `${q(c)} = ?`).join(' AND ')}`,
      [...names.map((n) => bindValue(this.#col(t, n), values[n]!)), ...this.#keyBinds(t, pk)],
    );
  }

  async deleteRows(t: TableSchema, pks: readonly (readonly WireValue[])[]): Promise<void> {
    for (const part of chunks(pks, CHUNK)) {
      const { sql, params } = this.#keyIn(t, part);
      await this.#db.run(`DELETE FROM ${q(t.name)} WHERE ${sql}`, params);
    }
  }

  /** Keyset paging in key order; a multi-column "after" is spelled out so the range optimizer uses the key. */
  async scanRows(t: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]> {
    const keys = t.primaryKey;
    let where = '';
    const params: unknown[] = [];
    if (after) {
      const b = keys.map((c, i) => bindValue(this.#col(t, c), (after[i] ?? null) as WireValue));
      const ors = keys.map((_, i) => {
        const eq = keys.slice(0, i).map((c, j) => (params.push(b[j]), `${q(c)} = ?`));
        params.push(b[i]);
        return `(${[...eq, `${q(keys[i]!)} > ?`].join(' AND ')})`;
      });
      where = `WHERE ${ors.join(' OR ')}`;
    }
    params.push(limit);
    const rows = await this.#db.all<Record<string, unknown>>(`SELECT * FROM ${q(t.name)} ${where} ORDER BY ${keys.map(q).join(', ')} LIMIT ?`, params);
    return rows.map((r) => rowToWire(t, r));
  }
}
