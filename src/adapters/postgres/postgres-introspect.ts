import type pg from 'pg';
import type { ColumnKind, ColumnSchema, ForeignKeySchema } from '../../protocol/index.ts';
import type { IntrospectedTable } from '../adapter.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

interface ColumnRow {
  tbl: string;
  name: string;
  type: string;
  base: string;
  typmod: number;
  notnull: boolean;
  def: string | null;
  identity: string;
}

/** Columns of the ordinary and partitioned tables of current_schema(), with the base type of domains. */
const COLUMNS = `
SELECT c.relname AS tbl, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       bt.typname AS base, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def, a.attidentity::text AS identity
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname NOT LIKE '\\_outpost%'
ORDER BY c.relname, a.attnum`;

/** Primary and foreign keys, one row per column, in key order. */
const KEYS = `
SELECT cl.relname AS tbl, con.contype::text AS kind, con.conname AS name, rc.relname AS ref, a.attname AS col, ra.attname AS refcol
FROM pg_constraint con
JOIN pg_class cl ON cl.oid = con.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = current_schema()
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum
WHERE con.contype IN ('p', 'f') AND cl.relname NOT LIKE '\\_outpost%'
ORDER BY cl.relname, con.contype, con.conname, k.ord`;

export async function introspectPostgres(db: Queryable): Promise<IntrospectedTable[]> {
  const cols = (await db.query<ColumnRow>(COLUMNS)).rows;
  const keys = (await db.query<{ tbl: string; kind: string; name: string; ref: string | null; col: string; refcol: string | null }>(KEYS)).rows;
  const tables = new Map<string, IntrospectedTable>();
  for (const r of cols) {
    let t = tables.get(r.tbl);
    if (!t) tables.set(r.tbl, (t = { name: r.tbl, columns: [], primaryKey: [], foreignKeys: [] }));
    const kind = kindOf(r.base);
    const column: ColumnSchema = { name: r.name, type: r.type, kind, notNull: r.notnull, default: r.identity ? null : portableDefault(r.def), ...precision(r.base, r.typmod) };
    if (r.identity || /^nextval\(/i.test(r.def ?? '')) column.autoIncrement = true;
    t.columns.push(column);
  }
  const fks = new Map<string, ForeignKeySchema>();
  for (const k of keys) {
    const t = tables.get(k.tbl);
    if (!t) continue;
    if (k.kind === 'p') {
      t.primaryKey.push(k.col);
      continue;
    }
    const id = `${k.tbl}\u0000${k.name}`;
    let fk = fks.get(id);
    if (!fk) {
      fks.set(id, (fk = { columns: [], refTable: k.ref ?? '', refColumns: [] }));
      t.foreignKeys.push(fk);
    }
    fk.columns.push(k.col);
    fk.refColumns.push(k.refcol ?? k.col);
  }
  for (const t of tables.values()) {
    for (const c of t.columns) if (t.primaryKey.includes(c.name)) c.notNull = true;
  }
  return [...tables.values()];
}

/** Base type name (pg_type.typname) of each column of one table in current_schema(). */
export async function liveTypes(db: Queryable, table: string): Promise<Map<string, string>> {
  const { rows } = await db.query<{ name: string; base: string }>(
    `SELECT a.attname AS name, bt.typname AS base
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     JOIN pg_type t ON t.oid = a.atttypid
     JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
     WHERE c.relname = $1 ORDER BY a.attnum`,
    [table],
  );
  return new Map(rows.map((r) => [r.name, r.base]));
}

export function kindOf(base: string): ColumnKind {
  switch (base) {
    case 'int2':
    case 'int4':
    case 'int8':
      return 'integer';
    case 'numeric':
      return 'decimal';
    case 'float4':
    case 'float8':
      return 'real';
    case 'bytea':
      return 'blob';
    case 'bool':
      return 'boolean';
    case 'date':
      return 'date';
    case 'timestamp':
    case 'timestamptz':
      return 'datetime';
    case 'json':
    case 'jsonb':
      return 'json';
    case 'uuid':
      return 'uuid';
    default:
      return 'text';
  }
}

/** NUMERIC(p,s) precision and scale, VARCHAR(n)/CHAR(n) length, from the type modifier. */
function precision(base: string, typmod: number): { precision?: number; scale?: number } {
  if (typmod < 0) return {};
  if (base === 'numeric') return { precision: ((typmod - 4) >> 16) & 0xffff, scale: (typmod - 4) & 0xffff };
  if (base === 'varchar' || base === 'bpchar') return { precision: typmod - 4 };
  return {};
}

/**
 * A column default as portable SQL text: literals without their `::type`
 * casts, now() as CURRENT_TIMESTAMP, sequence defaults (serial) dropped.
 * Other expressions are kept as PostgreSQL wrote them.
 */
export function portableDefault(def: string | null): string | null {
  if (def === null) return null;
  let v = def.trim();
  if (/^nextval\(/i.test(v)) return null;
  if (/^(now\(\)|CURRENT_TIMESTAMP|transaction_timestamp\(\)|LOCALTIMESTAMP)$/i.test(v)) return 'CURRENT_TIMESTAMP';
  // 'x'::text, '-1'::integer, (-1)::numeric, 'a'::character varying(10)
  const cast = /^(.*?)::[a-z_][a-z0-9_ ]*(\([\d, ]+\))?(\[\])?( with(out)? time zone)?$/i.exec(v);
  if (cast) v = cast[1]!.trim();
  const paren = /^\((.*)\)$/.exec(v);
  if (paren && /^-?\d+(\.\d+)?$/.test(paren[1]!.trim())) v = paren[1]!.trim();
  const quotedNumber = /^'(-?\d+(\.\d+)?)'$/.exec(v);
  if (quotedNumber && cast && /::(integer|bigint|smallint|numeric|real|double precision)/i.test(def)) v = quotedNumber[1]!;
  if (/^(true|false)$/i.test(v)) return v.toUpperCase();
  return v;
}
