import type pg from 'pg';
import { fromWire, pkKey, toWire, type ColumnSchema, type DbValue, type TableSchema, type WireValue } from '../../protocol/index.ts';
import type { RowMeta, RowValues } from '../../engine/index.ts';
import { canonicalValue, compactJson, isoDatetime } from '../canonical.ts';
import { quotePg as q } from './postgres-quote.ts';
import { metaFromRow, metaToRow, type MetaRow } from '../meta-row.ts';
import { chunks } from '../chunks.ts';
import { columnNamed } from '../column-index.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Keys per statement in getRows/lockRows (PostgreSQL takes at most 65535 parameters). */
const KEYS_PER_STATEMENT = 500;
/** Parameters per multi-row INSERT of rows. */
const PARAMS_PER_STATEMENT = 30_000;

/** A wire value as a pg parameter: integers beyond 2^53 as digits, bytes as a Buffer, the rest as they are. */
export function bindValue(v: WireValue | undefined): unknown {
  if (v === undefined) return null;
  const d: DbValue = fromWire(v);
  return typeof d === 'bigint' ? d.toString() : d;
}

/**
 * A value as pg returns it (the pool's type parsers leave int8, numeric,
 * dates, timestamps and json as text) in canonical wire form (canonical.ts).
 */
export function readValue(col: ColumnSchema | undefined, raw: unknown): WireValue {
  if (raw === null || raw === undefined) return null;
  if (Buffer.isBuffer(raw)) return toWire(raw);
  if (!col) return toWire(raw as DbValue);
  if (typeof raw === 'string') {
    switch (col.kind) {
      // timestamp without time zone is taken as UTC, as Outpost writes it
      case 'datetime':
        return isoDatetime(raw) ?? raw;
      case 'json':
        return compactJson(raw);
      case 'uuid':
        return raw.toLowerCase();
    }
  }
  return canonicalValue(col, raw as DbValue);
}

export function rowToWire(t: TableSchema, row: Record<string, unknown>): RowValues {
  const out: RowValues = {};
  for (const [k, v] of Object.entries(row)) out[k] = readValue(columnNamed(t, k), v);
  return out;
}

/** The key as it reads back, so keys given in another spelling ({"$n":"5"}, upper-case uuid) still match. */
function canonicalKey(t: TableSchema, pk: readonly WireValue[]): string {
  return pkKey(
    t.primaryKey.map((c, i) => {
      const v = pk[i] ?? null;
      const col = columnNamed(t, c);
      const d = fromWire(v);
      return readValue(col, typeof d === 'bigint' ? d.toString() : d);
    }),
  );
}

/** `(k1, k2) IN (($1, $2), ($3, $4))`, or `k IN ($1, $2)` for a single key column. */
function keyIn(t: TableSchema, pks: readonly (readonly WireValue[])[], params: unknown[]): string {
  const one = t.primaryKey.length === 1;
  const tuples = pks.map((pk) => {
    const marks = t.primaryKey.map((_, i) => (params.push(bindValue(pk[i])), `$${params.length}`));
    return one ? marks[0]! : `(${marks.join(', ')})`;
  });
  const keys = one ? q(t.primaryKey[0]!) : `(${t.primaryKey.map(q).join(', ')})`;
  return `${keys} IN (${tuples.join(', ')})`;
}

/** Reads and writes of synced rows and their stamps, inside an open transaction. */
export class PgRows {
  readonly rowLocks = true;
  readonly #db: Queryable;
  constructor(db: Queryable) {
    this.#db = db;
  }

  async lockRows(t: TableSchema, pks: readonly WireValue[][]): Promise<void> {
    for (const part of chunks(pks, KEYS_PER_STATEMENT)) {
      const params: unknown[] = [];
      // Locked in key order, so two transactions locking overlapping rows do not deadlock.
      await this.#db.query(`SELECT 1 FROM ${q(t.name)} WHERE ${keyIn(t, part, params)} ORDER BY ${t.primaryKey.map(q).join(', ')} FOR UPDATE`, params);
    }
  }

  async getMeta(table: string, keys: readonly string[]): Promise<Map<string, RowMeta>> {
    const out = new Map<string, RowMeta>();
    for (const part of chunks(keys, KEYS_PER_STATEMENT * 4)) {
      // One index probe per key, whatever the statistics say: right after a
      // bulk write (a hub sequencing a loaded table, a large push) the table
      // has none yet, and `pk = ANY($2)` was then planned as a scan of every
      // stamp of the table filtered by key (57 ms instead of 3 ms per 1,000
      // keys at 300k rows, growing with the table). LIMIT 1 keeps the
      // subquery from being flattened into a join the planner could hash.
      const { rows } = await this.#db.query<MetaRow & { pk: string }>(
        'SELECT r.pk, r.ex, r.hlc, r.col_hlc FROM unnest($2::text[]) AS k(pk) CROSS JOIN LATERAL (SELECT pk, ex, hlc, col_hlc FROM _outpost_rows WHERE tbl = $1 AND pk = k.pk LIMIT 1) AS r',
        [table, part],
      );
      for (const r of rows) out.set(r.pk, metaFromRow(r));
    }
    return out;
  }

  async putMetas(table: string, entries: readonly (readonly [string, RowMeta])[]): Promise<void> {
    for (const part of chunks(entries, KEYS_PER_STATEMENT * 4)) {
      const rows = part.map(([key, m]) => [key, ...metaToRow(m)] as const);
      // Arrays instead of one parameter per value: one short statement for any number of rows.
      await this.#db.query(
        'INSERT INTO _outpost_rows (tbl, pk, ex, hlc, col_hlc) SELECT $1, * FROM unnest($2::text[], $3::smallint[], $4::text[], $5::text[]) ON CONFLICT (tbl, pk) DO UPDATE SET ex = EXCLUDED.ex, hlc = EXCLUDED.hlc, col_hlc = EXCLUDED.col_hlc',
        [table, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
      );
    }
  }

  async getRows(t: TableSchema, pks: readonly WireValue[][]): Promise<Map<string, RowValues>> {
    const found = new Map<string, RowValues>();
    for (const part of chunks(pks, KEYS_PER_STATEMENT)) {
      const params: unknown[] = [];
      const { rows } = await this.#db.query<Record<string, unknown>>(`SELECT * FROM ${q(t.name)} WHERE ${keyIn(t, part, params)}`, params);
      for (const r of rows) {
        const row = rowToWire(t, r);
        found.set(pkKey(t.primaryKey.map((c) => row[c] ?? null)), row);
      }
    }
    const out = new Map<string, RowValues>();
    for (const pk of pks) {
      const row = found.get(canonicalKey(t, pk));
      if (row) out.set(pkKey(pk), row);
    }
    return out;
  }

  async upsertRows(t: TableSchema, rows: readonly RowValues[]): Promise<void> {
    const names = Object.keys(rows[0]!);
    const rest = names.filter((n) => !t.primaryKey.includes(n));
    const conflict = rest.length ? `DO UPDATE SET ${rest.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}` : 'DO NOTHING';
    for (const part of chunks(rows, Math.max(1, Math.floor(PARAMS_PER_STATEMENT / names.length)))) {
      const params: unknown[] = [];
      const tuples = part.map((r) => `(${names.map((n) => (params.push(bindValue(r[n])), `$${params.length}`)).join(', ')})`);
      // OVERRIDING SYSTEM VALUE: rows keep the key they have elsewhere, also in GENERATED ALWAYS identity columns.
      await this.#db.query(
        `INSERT INTO ${q(t.name)} (${names.map(q).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(', ')} ON CONFLICT (${t.primaryKey.map(q).join(', ')}) ${conflict}`,
        params,
      );
    }
  }

  async updateRow(t: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void> {
    const names = Object.keys(values).filter((n) => !t.primaryKey.includes(n));
    if (!names.length) return;
    const sets = names.map((c, i) => `${q(c)} = $${i + 1}`).join(', ');
    const where = t.primaryKey.map((c, i) => `${q(c)} = $${names.length + i + 1}`).join(' AND ');
    await this.#db.query(`UPDATE ${q(t.name)} SET ${sets} WHERE ${where}`, [...names.map((n) => bindValue(values[n])), ...pk.map(bindValue)]);
  }

  async deleteRows(t: TableSchema, pks: readonly (readonly WireValue[])[]): Promise<void> {
    for (const part of chunks(pks, KEYS_PER_STATEMENT)) {
      const params: unknown[] = [];
      await this.#db.query(`DELETE FROM ${q(t.name)} WHERE ${keyIn(t, part, params)}`, params);
    }
  }

  async scanRows(t: TableSchema, after: readonly unknown[] | null, limit: number): Promise<RowValues[]> {
    const keys = t.primaryKey.map(q).join(', ');
    const params: unknown[] = after ? after.map((v) => bindValue(v as WireValue)) : [];
    const where = after ? `WHERE (${keys}) > (${t.primaryKey.map((_, i) => `$${i + 1}`).join(', ')})` : '';
    params.push(limit);
    const { rows } = await this.#db.query<Record<string, unknown>>(`SELECT * FROM ${q(t.name)} ${where} ORDER BY ${keys} LIMIT $${params.length}`, params);
    return rows.map((r) => rowToWire(t, r));
  }
}
