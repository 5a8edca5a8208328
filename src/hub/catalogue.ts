import { createHash } from 'node:crypto';
import { OutpostError, type TableSchema } from '../protocol/index.ts';
import { parentsFirst } from '../engine/index.ts';
import type { IntrospectedTable } from '../adapters/adapter.ts';
import { assertIdentifier } from '../adapters/identifiers.ts';
import type { HubConfig } from './config.ts';

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
    tables.push({ ...t, direction: tc.direction, policy: tc.policy });
  }
  const order = parentsFirst(tables);
  tables.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return fromTables(tables);
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
    p: t.policy,
  }));
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex').slice(0, 16);
}
