import type { ColumnKind, ColumnSchema } from '../../protocol/index.ts';
import type { IntrospectedTable } from '../adapter.ts';

type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

interface ColumnRow {
  tbl: string;
  col: string;
  dataType: string;
  columnType: string;
  nullable: string;
  dflt: string | null;
  extra: string | null;
  charLen: number | string | null;
  numPrecision: number | string | null;
  numScale: number | string | null;
}

/** The current database's user tables (never `_outpost_*`), from information_schema. */
export async function introspectMysql(query: Query, isMariaDb: boolean): Promise<IntrospectedTable[]> {
  const tables = await query<{ name: string }>(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE '\\_outpost%' ORDER BY TABLE_NAME`,
  );
  const cols = await query<ColumnRow>(
    `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS col, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, EXTRA AS extra,
            CHARACTER_MAXIMUM_LENGTH AS charLen, NUMERIC_PRECISION AS numPrecision, NUMERIC_SCALE AS numScale
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION`,
  );
  const keys = await query<{ tbl: string; constraintName: string; col: string; refTable: string | null; refCol: string | null }>(
    `SELECT TABLE_NAME AS tbl, CONSTRAINT_NAME AS constraintName, COLUMN_NAME AS col, REFERENCED_TABLE_NAME AS refTable, REFERENCED_COLUMN_NAME AS refCol
     FROM information_schema.KEY_COLUMN_USAGE
     WHERE TABLE_SCHEMA = DATABASE() AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
     ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`,
  );
  // MariaDB's JSON is LONGTEXT with a json_valid(`col`) CHECK constraint.
  const jsonCols = new Set<string>();
  if (isMariaDb) {
    const checks = await query<{ tbl: string; clause: string }>(
      `SELECT TABLE_NAME AS tbl, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()`,
    ).catch(() => []);
    for (const c of checks) {
      const m = /^\s*json_valid\(\s*`((?:[^`]|``)+)`\s*\)\s*$/i.exec(c.clause);
      if (m) jsonCols.add(`${c.tbl}\0${m[1]!.replace(/``/g, '`')}`);
    }
  }
  return tables.map(({ name }) => {
    const columns: ColumnSchema[] = cols
      .filter((c) => c.tbl === name)
      .map((c) => {
        const kind = kindOf(c.dataType, c.columnType, jsonCols.has(`${name}\0${c.col}`));
        const col: ColumnSchema = { name: c.col, type: c.columnType, kind, notNull: c.nullable === 'NO', default: normalizeDefault(c.dflt, c.extra, isMariaDb) };
        if (c.extra && /auto_increment/i.test(c.extra)) col.autoIncrement = true;
        if (kind === 'decimal' && c.numPrecision !== null) {
          col.precision = Number(c.numPrecision);
          col.scale = Number(c.numScale ?? 0);
        } else if (kind === 'text' && /char/i.test(c.dataType) && c.charLen !== null) {
          col.precision = Number(c.charLen);
        }
        return col;
      });
    const primaryKey = keys.filter((k) => k.tbl === name && k.constraintName === 'PRIMARY').map((k) => k.col);
    const byName = new Map<string, { columns: string[]; refTable: string; refColumns: string[] }>();
    for (const k of keys) {
      if (k.tbl !== name || k.refTable === null) continue;
      const fk = byName.get(k.constraintName) ?? { columns: [], refTable: k.refTable, refColumns: [] };
      fk.columns.push(k.col);
      fk.refColumns.push(k.refCol ?? k.col);
      byName.set(k.constraintName, fk);
    }
    return { name, columns, primaryKey, foreignKeys: [...byName.values()] };
  });
}

export function kindOf(dataType: string, columnType: string, jsonChecked: boolean): ColumnKind {
  const d = dataType.toLowerCase();
  const ct = columnType.toLowerCase();
  if (/^(tinyint\(1\)|bool|boolean)(\s|$)/.test(ct)) return 'boolean';
  if (['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'year'].includes(d)) return 'integer';
  if (['decimal', 'numeric', 'fixed'].includes(d)) return 'decimal';
  if (['float', 'double', 'real', 'double precision'].includes(d)) return 'real';
  if (d === 'json' || (jsonChecked && /text$/.test(d))) return 'json';
  if (d === 'uuid') return 'uuid';
  if (['blob', 'tinyblob', 'mediumblob', 'longblob', 'binary', 'varbinary'].includes(d)) return 'blob';
  if (d === 'date') return 'date';
  if (d === 'datetime' || d === 'timestamp') return 'datetime';
  return 'text';
}

/**
 * A DEFAULT as SQL text. MariaDB quotes string literals ('it''s') and writes
 * NULL for "default null"; MySQL gives literals bare and marks expressions
 * DEFAULT_GENERATED. Both become `'text'`; current_timestamp() becomes
 * CURRENT_TIMESTAMP.
 */
export function normalizeDefault(d: string | null, extra: string | null, isMariaDb: boolean): string | null {
  if (d === null) return null;
  const v = d.trim();
  if (isMariaDb && v.toUpperCase() === 'NULL') return null;
  if (/^current_timestamp(\(\s*\d*\s*\))?$/i.test(v) || /^now\(\s*\d*\s*\)$/i.test(v)) return 'CURRENT_TIMESTAMP';
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return v;
  if (isMariaDb) return v; // literals come quoted already; the rest are expressions
  if (extra && /DEFAULT_GENERATED/i.test(extra)) return `(${v})`;
  return `'${v.replace(/'/g, "''")}'`;
}
