import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { COLUMN_POLICIES, DELETE_RULES, DIRECTIONS, OutpostError, POLICIES } from '../protocol/index.ts';
import { fanoutConfigSchema } from './fanout.ts';

const ident = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a column name (letters, digits, _)');

/** A value a scope filter compares a column with: a literal, or `$node.NAME`, an attribute of the node (`outpost node add --attr`). */
const scopeValue = z.union([
  z.string().max(1000).refine((s) => !s.startsWith('$') || /^\$node\.[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(s), 'a literal, or $node.NAME (an attribute of the node: letters, digits, _)'),
  z.number().finite(),
  z.boolean(),
]);

/**
 * A row filter: every named column must equal its value (or one of a list
 * of values). `{ "lab_id": "$node.lab_id" }`: rows of the node's own lab.
 */
const scopeFilterSchema = z
  .record(ident, z.union([scopeValue, z.array(scopeValue).min(1).max(1000)]))
  .refine((f) => Object.keys(f).length > 0, 'name at least one column');

const scopeSchema = z
  .object({
    /** the rows a node receives (absent: every row) */
    read: scopeFilterSchema.optional(),
    /** the rows a node may insert, change or delete, before and after its change (absent: its read scope) */
    write: scopeFilterSchema.optional(),
  })
  .strict()
  .refine((s) => s.read || s.write, 'give a read or a write filter');

export type ScopeFilterConfig = z.infer<typeof scopeFilterSchema>;

const tableConfigSchema = z
  .object({
    direction: z.enum(DIRECTIONS).default('both'),
    /** concurrent writes: `merge` (per column, by stamp), `lww` (whole row), `manual` (an admin decides), `custom` (`resolver` decides) */
    policy: z.enum(POLICIES).default('merge'),
    /** per-column overrides: `counter`, `manual`, `custom`, `merge` */
    columns: z.record(ident, z.enum(COLUMN_POLICIES)).optional(),
    /** a delete against a concurrent update */
    onDelete: z.enum(DELETE_RULES).optional(),
    /**
     * the module (a path relative to the config file, or a package name)
     * whose default export resolves this table's `custom` conflicts
     */
    resolver: z.string().min(1).max(1000).optional(),
    /** partial replication: which rows each node receives and may write, by its attributes (docs/security.md) */
    scope: scopeSchema.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const custom = t.policy === 'custom' || Object.values(t.columns ?? {}).includes('custom');
    if (custom && !t.resolver) ctx.addIssue({ code: 'custom', path: ['resolver'], message: 'a custom policy needs a resolver module' });
    if (!custom && t.resolver) ctx.addIssue({ code: 'custom', path: ['resolver'], message: 'a resolver is used only by a custom policy (set policy or a column to "custom")' });
  });

export const hubConfigSchema = z
  .object({
    $schema: z.string().optional(),
    description: z.string().optional(),
    tables: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a table name (letters, digits, _)'), tableConfigSchema).refine((t) => Object.keys(t).length > 0, 'name at least one table'),
    /** integer keys per node in tables with auto-increment keys: node n of the hub creates keys n·size+1 … (n+1)·size; the website keeps 1 … size */
    keyRangeSize: z.number().int().min(100).max(2 ** 40).default(1_000_000),
    /** seconds between checks for nullable columns added to synced tables (0: only at start, handshake after `outpost schema refresh`) */
    schemaRefreshSeconds: z.number().int().min(0).max(86_400).default(30),
    /**
     * how far (seconds) a node's clock, and every stamp it pushes, may be
     * ahead of the hub's wall clock; further ahead, its handshake and push are
     * refused with CLOCK_AHEAD and change nothing (docs/security.md)
     */
    maxClockAheadSeconds: z.number().int().min(1).max(365 * 86_400).default(300),
    /**
     * how long the hub keeps what an offline node would need to catch up
     * incrementally: log entries and delete markers every node seen within
     * `horizonSeconds` has pulled past are purged every `purgeEverySeconds`
     * (0: only by `outpost purge`); a node away longer takes a fresh snapshot
     */
    retention: z
      .object({
        horizonSeconds: z.number().int().min(60).max(10 * 365 * 86_400).default(30 * 86_400),
        purgeEverySeconds: z.number().int().min(0).max(7 * 86_400).default(600),
      })
      .strict()
      .default({ horizonSeconds: 30 * 86_400, purgeEverySeconds: 600 }),
    /**
     * several hub processes over one database: how they tell each other of
     * commits so each pokes its own live nodes, `{"redis": "redis://…"}` or
     * `{"nats": "nats://…"}`, with an optional `channel` (docs/live.md);
     * absent: one hub process, nothing leaves it
     */
    fanout: fanoutConfigSchema.optional(),
    /**
     * live mode's timers (docs/live.md): while nodes are connected, website
     * writes are sequenced, and the log's head checked, every `watchMs`; the
     * connected nodes' credentials are checked every `revocationCheckMs`
     */
    live: z
      .object({
        watchMs: z.number().int().min(10).max(60_000).default(150),
        revocationCheckMs: z.number().int().min(50).max(1000).default(400),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        bodyBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
        pullPage: z.number().int().min(1).max(50_000).default(5000),
      })
      .strict()
      .default({ bodyBytes: 16 * 1024 * 1024, pullPage: 5000 }),
  })
  .strict();

export type HubConfig = z.infer<typeof hubConfigSchema>;
export type TableConfig = z.infer<typeof tableConfigSchema>;

/** Validate a parsed config; errors name the bad field by its path. */
export function parseHubConfig(raw: unknown, source = 'config'): HubConfig {
  const r = hubConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
  throw new OutpostError('CONFIG_INVALID', `${source}: ${lines.join('; ')}`, { issues: lines });
}

export function loadHubConfig(path: string): HubConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new OutpostError('CONFIG_INVALID', `cannot read config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new OutpostError('CONFIG_INVALID', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  const config = parseHubConfig(raw, path);
  // Resolver modules named by a relative path are found next to the config file.
  for (const t of Object.values(config.tables)) {
    if (t.resolver?.startsWith('.')) t.resolver = resolvePath(dirname(path), t.resolver);
  }
  return config;
}
