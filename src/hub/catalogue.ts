import { createHash } from 'node:crypto';
import { OutpostError, counterColumns, type TableSchema } from '../protocol/index.ts';
import { parentsFirst } from '../engine/index.ts';
import type { IntrospectedTable } from '../adapters/adapter.ts';
import { assertIdentifier } from '../adapters/identifiers.ts';
import type { HubConfig, TableConfig } from './config.ts';

/** Key kinds every dialect's triggers spell the same way in captured keys. */
const KEY_KINDS = new Set(['integer', 'text', 'uuid', 'date']);

/** The validated schema catalogue: the only source of table and column names in SQL. */
export interface Catalogue {
  readonly tables: readonly TableSchema[];
  readonly byName: ReadonlyMap<string, TableSchema>;
  readonly version: string;
}

export function buildCatalogue(config: HubConfig, found: readonly IntrospectedTable[]): Catalogue {
  const byFound = new Map(found.map((t) => [t.name, t]));
  const tables: TableSchema[] = [];
  for (const [name, tc] of Object.entries(config.tables)) {
    const t = byFound.get(name);
    if (!t) throw new OutpostError('CONFIG_INVALID', `tables.${name}: no such table in the hub database (found: ${[...byFound.keys()].join(', ') || 'none'})`);
    assertIdentifier(name, 'table');
    // Trigger names add up to 12 characters, and MariaDB allows 64.
    if (name.length > 50) throw new OutpostError('SCHEMA_INVALID', `tables.${name}: synced table names may have at most 50 characters (the capture triggers' names add 12)`);
    for (const c of t.columns) assertIdentifier(c.name, `column ${name}.`);
    if (t.primaryKey.length === 0) throw new OutpostError('SCHEMA_INVALID', `tables.${name}: the table has no primary key; Outpost needs one to identify rows across databases`);
    for (const k of t.primaryKey) {
      const col = t.columns.find((c) => c.name === k)!;
      if (!KEY_KINDS.has(col.kind)) throw new OutpostError('SCHEMA_INVALID', `tables.${name}: key column ${k} has type ${col.type}; keys must be integers, text, UUIDs or dates (not decimals, datetimes, floats or blobs)`);
    }
    tables.push(withPolicies({ ...t, direction: tc.direction, policy: tc.policy }, tc));
  }
  const order = parentsFirst(tables);
  tables.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return fromTables(tables);
}

/**
 * The table with the policies the config gives it now (a table's policies
 * other than its counters are the hub's alone, so changing them is not a
 * schema change nodes must follow). Throws CONFIG_INVALID for a column
 * override the table cannot take.
 */
export function withPolicies(t: TableSchema, tc: TableConfig): TableSchema {
  const out: TableSchema = { ...t, policy: tc.policy };
  delete out.columnPolicies;
  delete out.onDelete;
  const overrides = Object.entries(tc.columns ?? {});
  for (const [name, policy] of overrides) {
    const col = t.columns.find((c) => c.name === name);
    const at = `tables.${t.name}.columns.${name}`;
    if (!col) throw new OutpostError('CONFIG_INVALID', `${at}: no such column in table ${t.name}`);
    if (t.primaryKey.includes(name)) throw new OutpostError('CONFIG_INVALID', `${at}: a key column cannot have a policy of its own`);
    if (policy === 'counter' && (col.kind !== 'integer' || !col.notNull)) {
      throw new OutpostError('CONFIG_INVALID', `${at}: a counter must be an INTEGER NOT NULL column (${t.name}.${name} is ${col.type || col.kind}${col.notNull ? ' NOT NULL' : ', nullable'})`);
    }
  }
  if (overrides.length) out.columnPolicies = Object.fromEntries(overrides);
  if (tc.onDelete && tc.onDelete !== 'delete-wins') out.onDelete = tc.onDelete;
  return out;
}

export function fromTables(tables: TableSchema[]): Catalogue {
  return { tables, byName: new Map(tables.map((t) => [t.name, t])), version: schemaVersion(tables) };
}

/** A short hash of everything both sides must agree on. */
export function schemaVersion(tables: readonly TableSchema[]): string {
  const canon = tables.map((t) => ({
    n: t.name,
    c: t.columns.map((c) => [c.name, c.kind, c.notNull]),
    k: t.primaryKey,
    f: t.foreignKeys,
    d: t.direction,
    // Nodes resolve manual and custom tables like merge ones: only lww changes what they do.
    p: t.policy === 'lww' ? 'lww' : 'merge',
    // Counters change the nodes' triggers and what their changes carry.
    ...(counterColumns(t).length ? { x: counterColumns(t) } : {}),
  }));
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex').slice(0, 16);
}
