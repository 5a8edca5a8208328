import { createHash } from 'node:crypto';
import { OutpostError, columnPolicy, isReservedKey, type TableSchema, type WireValue } from '../protocol/index.ts';
import type { HubConfig, ScopeFilterConfig } from './config.ts';

/**
 * Scopes (partial replication): per table, a read filter (the rows a node
 * receives) and a write filter (the rows it may insert, change or delete),
 * over the table's columns and the node's attributes. This file holds the
 * filters and their evaluation; scope-log.ts records what log entries need
 * for them, scope-pull.ts projects pulls, scope-write.ts checks pushes.
 */

/** A node's attributes (`outpost node add NAME --attr lab_id=3`): names and text values. */
export type NodeAttrs = Readonly<Record<string, string>>;

/** One accepted value of a column: a literal (as text), or an attribute of the node. */
type Term = { literal: string } | { attr: string };

/** Every column must equal one of its terms. */
export interface ScopeFilter {
  readonly terms: readonly (readonly [string, readonly Term[]])[];
}

export interface TableScope {
  readonly table: string;
  /** the columns the filters name (their values are kept per row, scope-log.ts) */
  readonly columns: readonly string[];
  /** null: every row is sent */
  readonly read: ScopeFilter | null;
  /** the read filter where the config gives none; null: every row may be written */
  readonly write: ScopeFilter | null;
  /** a hash of the columns and filters: a change means nodes take a fresh snapshot */
  readonly signature: string;
}

export type Scopes = ReadonlyMap<string, TableScope>;

/** The scope columns' values of a row (a missing column counts as null). */
export type ScopeValues = Record<string, WireValue>;

const ATTR = /^\$node\.([A-Za-z_][A-Za-z0-9_]{0,63})$/;

/** The configured scopes, checked against the catalogue: columns exist and are not counters. */
export function compileScopes(config: HubConfig, tables: readonly TableSchema[]): Scopes {
  const out = new Map<string, TableScope>();
  for (const t of tables) {
    const sc = config.tables[t.name]?.scope;
    if (!sc) continue;
    const at = `tables.${t.name}.scope`;
    const compile = (f: ScopeFilterConfig | undefined, which: string): ScopeFilter | null => {
      if (!f) return null;
      return {
        terms: Object.entries(f).map(([column, v]) => {
          const col = t.columns.find((c) => c.name === column);
          if (!col) throw new OutpostError('CONFIG_INVALID', `${at}.${which}.${column}: no such column in table ${t.name}`);
          if (columnPolicy(t, column) === 'counter') throw new OutpostError('CONFIG_INVALID', `${at}.${which}.${column}: a counter column cannot decide a row's scope (its value moves by deltas)`);
          if (col.kind === 'blob' || col.kind === 'real') throw new OutpostError('CONFIG_INVALID', `${at}.${which}.${column}: scope columns compare exactly, so they cannot be ${col.kind} columns`);
          return [column, (Array.isArray(v) ? v : [v]).map(term)] as const;
        }),
      };
    };
    const read = compile(sc.read, 'read');
    const write = compile(sc.write, 'write') ?? read;
    const columns = [...new Set([...(read?.terms ?? []), ...(write?.terms ?? [])].map(([c]) => c))].sort();
    const signature = createHash('sha256').update(JSON.stringify({ columns, read: sc.read ?? null, write: sc.write ?? null })).digest('hex').slice(0, 16);
    out.set(t.name, { table: t.name, columns, read, write, signature });
  }
  return out;
}

function term(v: string | number | boolean): Term {
  if (typeof v === 'string') {
    const m = ATTR.exec(v);
    if (m) return { attr: m[1]! };
  }
  return { literal: valueText(v)! };
}

/**
 * A value as the text scopes compare: numbers in their shortest form, big
 * integers by their digits, booleans as 1/0 (as SQLite and MariaDB hold
 * them), text as it is; null matches nothing.
 */
export function valueText(v: WireValue | boolean): string | null {
  if (v === null) return null;
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  if ('$n' in v) return String(v.$n);
  return null;
}

/** Whether a row with these scope values passes the filter for a node with these attributes (no row: never; no filter: always). */
export function matches(filter: ScopeFilter | null, vals: ScopeValues | undefined, attrs: NodeAttrs): boolean {
  if (vals === undefined) return false;
  if (!filter) return true;
  for (const [column, terms] of filter.terms) {
    const have = valueText(vals[column] ?? null);
    if (have === null) return false;
    if (!terms.some((t) => ('literal' in t ? t.literal : Object.hasOwn(attrs, t.attr) ? attrs[t.attr] : undefined) === have)) return false;
  }
  return true;
}

/** The scope columns' values of a row (or of a change's columns, where it carries them). */
export function scopeValues(scope: TableScope, row: Readonly<Record<string, WireValue>>, only = false): ScopeValues {
  const out: ScopeValues = {};
  for (const c of scope.columns) {
    if (Object.hasOwn(row, c)) out[c] = row[c]!;
    else if (!only) out[c] = null;
  }
  return out;
}

/** Attribute names and values a node may be given. */
export function checkAttrs(attrs: Readonly<Record<string, string>>): NodeAttrs {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k) || isReservedKey(k)) throw new OutpostError('BAD_REQUEST', `attribute name ${JSON.stringify(k)}: use letters, digits and _ (at most 64)`);
    if (typeof v !== 'string' || v.length > 1000) throw new OutpostError('BAD_REQUEST', `attribute ${k}: a text value of at most 1000 characters`);
    out[k] = v;
  }
  return out;
}
