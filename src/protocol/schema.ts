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
export const POLICIES = ['merge', 'lww'] as const;
export type Policy = (typeof POLICIES)[number];

export const tableSchema = z.object({
  name: z.string(),
  columns: z.array(columnSchema),
  primaryKey: z.array(z.string()).min(1),
  foreignKeys: z.array(foreignKeySchema),
  direction: z.enum(DIRECTIONS),
  policy: z.enum(POLICIES),
});
/** One synced table as the hub's validated catalogue describes it. */
export type TableSchema = z.infer<typeof tableSchema>;
