import type Database from 'better-sqlite3';
import type { ColumnKind, ColumnSchema } from '../../protocol/index.ts';
import type { IntrospectedTable } from '../adapter.ts';
import { quoteSqlite } from './sqlite-quote.ts';

export function introspectSqlite(db: Database.Database): IntrospectedTable[] {
  const names = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_outpost%' ESCAPE '\\' ORDER BY name`)
    .all() as { name: string }[];
  return names.map(({ name }) => {
    const info = db.prepare(`PRAGMA table_xinfo(${quoteSqlite(name)})`).all() as { name: string; type: string; notnull: number; pk: number; hidden: number; dflt_value: string | null }[];
    const cols = info.filter((c) => c.hidden === 0);
    const columns: ColumnSchema[] = cols.map((c) => ({ name: c.name, type: c.type, kind: kindOf(c.type), notNull: c.notnull === 1 || c.pk > 0, default: c.dflt_value, ...precision(c.type) }));
    const primaryKey = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    // A single INTEGER PRIMARY KEY is the rowid: SQLite generates its values.
    const key = primaryKey.length === 1 ? columns.find((c) => c.name === primaryKey[0]) : undefined;
    if (key && key.type.toUpperCase() === 'INTEGER') key.autoIncrement = true;
    const fkRows = db.prepare(`PRAGMA foreign_key_list(${quoteSqlite(name)})`).all() as { id: number; seq: number; table: string; from: string; to: string | null }[];
    const byId = new Map<number, { columns: string[]; refTable: string; refColumns: string[] }>();
    for (const r of fkRows.sort((a, b) => a.id - b.id || a.seq - b.seq)) {
      const fk = byId.get(r.id) ?? { columns: [], refTable: r.table, refColumns: [] };
      fk.columns.push(r.from);
      fk.refColumns.push(r.to ?? r.from);
      byId.set(r.id, fk);
    }
    return { name, columns, primaryKey, foreignKeys: [...byId.values()] };
  });
}

/** SQLite's affinity rules, refined by the type names people write. */
export function kindOf(declared: string): ColumnKind {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('BOOL')) return 'boolean';
  if (t.includes('UUID')) return 'uuid';
  if (t.includes('JSON')) return 'json';
  if (t.includes('DATETIME') || t.includes('TIMESTAMP')) return 'datetime';
  if (t.includes('DATE')) return 'date';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t.includes('BLOB') || t === '') return t === '' ? 'text' : 'blob';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'real';
  if (t.includes('DEC') || t.includes('NUMERIC')) return 'decimal';
  return 'text';
}

function precision(declared: string): { precision?: number; scale?: number } {
  const m = /\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/.exec(declared);
  if (!m) return {};
  return m[2] === undefined ? { precision: Number(m[1]) } : { precision: Number(m[1]), scale: Number(m[2]) };
}
