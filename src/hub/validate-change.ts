import { OutpostError, columnPolicy, isReservedKey, type Change, type ColumnSchema, type TableSchema, type WireValue } from '../protocol/index.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL = /^-?\d{1,40}(\.\d{1,40})?$/;

/**
 * Check a pushed change against the catalogue before anything is written:
 * the table is synced and writable by nodes, every column exists, every value
 * fits its column, and the key has the table's shape. Throws a 4xx OutpostError.
 */
export function validatePushedChange(change: Change, catalogue: ReadonlyMap<string, TableSchema>): TableSchema {
  const table = catalogue.get(change.table);
  if (!table) throw new OutpostError('UNKNOWN_TABLE', `table ${JSON.stringify(change.table)} is not synced by this hub`, { table: change.table });
  if (table.direction === 'down') {
    throw new OutpostError('TABLE_READ_ONLY', `table ${table.name} is read-only on nodes (direction down)`, { table: table.name });
  }
  const where = { table: table.name, pk: change.pk };
  for (const rec of [change.cols, change.colHlc, change.deltas]) {
    for (const k of Object.keys(rec ?? {})) {
      if (isReservedKey(k)) throw new OutpostError('VALIDATION_FAILED', `${JSON.stringify(k)} is a reserved key, never a column`, { ...where, column: k });
    }
  }
  if (change.restate) throw new OutpostError('VALIDATION_FAILED', 'restate marks the hub\'s own restatements; a node cannot send one', where);
  if (change.pk.length !== table.primaryKey.length) {
    throw new OutpostError('BAD_KEY', `table ${table.name} has a key of ${table.primaryKey.length} column(s) (${table.primaryKey.join(', ')}), the change has ${change.pk.length}`, where);
  }
  const cols = new Map(table.columns.map((c) => [c.name, c]));
  table.primaryKey.forEach((name, i) => {
    const v = change.pk[i]!;
    if (v === null || !fits(cols.get(name)!, v)) {
      throw new OutpostError('BAD_KEY', `key column ${table.name}.${name} cannot hold ${JSON.stringify(v)}`, { ...where, column: name });
    }
  });
  if (change.op === 'D') {
    if (change.cols && Object.keys(change.cols).length) throw new OutpostError('VALIDATION_FAILED', 'a delete carries no column values', where);
    if (change.deltas && Object.keys(change.deltas).length) throw new OutpostError('VALIDATION_FAILED', 'a delete carries no deltas', where);
    return table;
  }
  const deltas = change.deltas ?? {};
  for (const name of Object.keys(deltas)) {
    if (!cols.has(name) || !Object.hasOwn(deltas, name)) throw new OutpostError('UNKNOWN_COLUMN', `table ${table.name} has no column ${JSON.stringify(name)}`, { ...where, column: name });
    if (columnPolicy(table, name) !== 'counter') {
      throw new OutpostError('VALIDATION_FAILED', `deltas name ${table.name}.${name}, which is not a counter column (only counter columns change by deltas)`, { ...where, column: name });
    }
    if (change.op !== 'U') throw new OutpostError('VALIDATION_FAILED', 'only an update carries deltas (an insert carries the values)', { ...where, column: name });
    if (change.cols && Object.hasOwn(change.cols, name)) {
      throw new OutpostError('VALIDATION_FAILED', `counter column ${table.name}.${name} is both in cols and in deltas; send one`, { ...where, column: name });
    }
  }
  const values = change.cols ?? {};
  for (const [name, v] of Object.entries(values)) {
    const col = cols.get(name);
    if (!col || !Object.hasOwn(values, name)) throw new OutpostError('UNKNOWN_COLUMN', `table ${table.name} has no column ${JSON.stringify(name)}`, { ...where, column: name });
    if (v === null ? col.notNull : !fits(col, v)) {
      throw new OutpostError('BAD_VALUE', `column ${table.name}.${name} (${col.type || col.kind}${col.notNull ? ' NOT NULL' : ''}) cannot hold ${JSON.stringify(v)}`, { ...where, column: name });
    }
    const ki = table.primaryKey.indexOf(name);
    if (ki >= 0 && JSON.stringify(v) !== JSON.stringify(change.pk[ki])) {
      throw new OutpostError('BAD_KEY', `column ${name} is part of the key and differs from the change's key`, { ...where, column: name });
    }
  }
  for (const name of Object.keys(change.colHlc ?? {})) {
    if (!Object.hasOwn(values, name) && !Object.hasOwn(deltas, name)) throw new OutpostError('VALIDATION_FAILED', `colHlc names ${JSON.stringify(name)}, which the change does not carry`, where);
  }
  if (change.op === 'I') {
    for (const c of table.columns) {
      if (c.notNull && !table.primaryKey.includes(c.name) && !Object.hasOwn(values, c.name)) {
        throw new OutpostError('BAD_VALUE', `an insert into ${table.name} must carry ${c.name} (NOT NULL)`, { ...where, column: c.name });
      }
    }
  } else if (Object.keys(values).length === 0 && Object.keys(deltas).length === 0) {
    throw new OutpostError('VALIDATION_FAILED', 'an update carries at least one column or delta', where);
  }
  return table;
}

function fits(col: ColumnSchema, v: WireValue): boolean {
  if (v === null) return true;
  switch (col.kind) {
    case 'integer':
      return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'object' && '$n' in v);
    case 'real':
      return typeof v === 'number';
    case 'decimal':
      return typeof v === 'number' || (typeof v === 'string' && DECIMAL.test(v)) || (typeof v === 'object' && '$n' in v);
    case 'boolean':
      return typeof v === 'boolean' || v === 0 || v === 1;
    case 'blob':
      return typeof v === 'object' && '$b' in v;
    case 'uuid':
      return typeof v === 'string' && UUID.test(v);
    case 'json':
      return typeof v === 'string' && isJson(v);
    case 'date':
    case 'datetime':
      // SQLite gives these NUMERIC affinity, so apps may store epoch numbers.
      return typeof v === 'string' || typeof v === 'number';
    default:
      return typeof v === 'string';
  }
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
