import { z } from 'zod';

/** Column type families every dialect maps onto. */
export const COLUMN_KINDS = ['integer', 'real', 'decimal', 'text', 'blob', 'boolean', 'date', 'datetime', 'json', 'uuid'] as const;
export type ColumnKind = (typeof COLUMN_KINDS)[number];

export const columnSchema = z.object({
  name: z.string(),
  /** the declared type as the source database wrote it */
  type: z.string(),
  kind: z.enum(COLUMN_KINDS),
  notNull: z.boolean(),
  /** precision and scale of DECIMAL, length of VARCHAR */
  precision: z.number().int().optional(),
  scale: z.number().int().optional(),
  /** the database generates its values (AUTO_INCREMENT, a sequence, SQLite's rowid key) */
  autoIncrement: z.boolean().optional(),
  /** the column's DEFAULT as SQL text, as introspected (null: none) */
  default: z.string().max(500).nullable().optional(),
});
export type ColumnSchema = z.infer<typeof columnSchema>;

export const foreignKeySchema = z.object({
  columns: z.array(z.string()),
  refTable: z.string(),
  refColumns: z.array(z.string()),
});
export type ForeignKeySchema = z.infer<typeof foreignKeySchema>;

export const DIRECTIONS = ['both', 'down', 'up'] as const;
export type Direction = (typeof DIRECTIONS)[number];
/**
 * How the hub decides between concurrent writes to a table's rows:
 * `merge` column by column by stamp, `lww` the whole row by its newest
 * stamp, `manual` the hub keeps its value and queues the conflict for an
 * admin, `custom` a resolver module named in the hub's config decides.
 * Nodes apply what the hub decided (they resolve `manual` and `custom`
 * tables like `merge`; the hub restates rows where its decision differs).
 */
export const POLICIES = ['merge', 'lww', 'manual', 'custom'] as const;
export type Policy = (typeof POLICIES)[number];
/**
 * A column's own policy, overriding its table's: `counter` (an integer whose
 * concurrent changes add up: updates travel as deltas), or `merge`,
 * `manual`, `custom` as for a table.
 */
export const COLUMN_POLICIES = ['merge', 'manual', 'counter', 'custom'] as const;
export type ColumnPolicy = (typeof COLUMN_POLICIES)[number];
/** A delete against a concurrent update: the delete wins, the update wins (the row stays or comes back), or an admin decides. */
export const DELETE_RULES = ['delete-wins', 'update-wins', 'manual'] as const;
export type DeleteRule = (typeof DELETE_RULES)[number];

export const tableSchema = z.object({
  name: z.string(),
  columns: z.array(columnSchema),
  primaryKey: z.array(z.string()).min(1),
  foreignKeys: z.array(foreignKeySchema),
  direction: z.enum(DIRECTIONS),
  policy: z.enum(POLICIES),
  /** columns whose policy is not the table's (absent: none) */
  columnPolicies: z.record(z.string(), z.enum(COLUMN_POLICIES)).optional(),
  /** a delete against a concurrent update (absent: `delete-wins`) */
  onDelete: z.enum(DELETE_RULES).optional(),
});
/** One synced table as the hub's validated catalogue describes it. */
export type TableSchema = z.infer<typeof tableSchema>;

/** The counter columns of a table (`columnPolicies` = `counter`), in column order. */
export function counterColumns(t: TableSchema): string[] {
  return t.columns.filter((c) => t.columnPolicies?.[c.name] === 'counter').map((c) => c.name);
}

/** The policy that decides a column's concurrent writes: its own, else its table's. */
export function columnPolicy(t: TableSchema, column: string): Policy | ColumnPolicy {
  return t.columnPolicies?.[column] ?? t.policy;
}
