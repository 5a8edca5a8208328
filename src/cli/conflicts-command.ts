import { userInfo } from 'node:os';
import { openDb } from './secrets.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { OutpostError } from '../protocol/index.ts';
import { loadHubConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { conflictView, parseSetPairs, type ConflictDecision, type ConflictView } from '../hub/conflicts.ts';
import { DEFAULT_CONFIG } from './hub-command.ts';
import { emit } from './output.ts';

interface Common {
  db: string;
  config?: string;
  json?: boolean;
}

async function onHubDb<T>(url: string, fn: (db: Adapter) => Promise<T>): Promise<T> {
  const db = await openDb(url, { mustExist: true });
  try {
    const role = await db.read((tx) => tx.getState('role')).catch(() => null);
    if (role !== 'hub') throw new OutpostError('BAD_REQUEST', `${db.description} is not a hub database (start \`outpost hub\` on it first)`);
    return await fn(db);
  } finally {
    await db.close();
  }
}

const who = (o: string | null): string => o ?? 'hub';
const show = (v: unknown): string => (v === undefined || v === null ? 'NULL' : JSON.stringify(v));

/** One conflict as a line for people. */
export function conflictLine(c: ConflictView): string {
  const where = `${c.table} ${JSON.stringify(c.pk)}${c.column ? `.${c.column}` : ''}`;
  const sides = c.kind === 'delete-updated' || c.kind === 'update-deleted'
    ? `${c.kind}: ${who(c.lost.origin)}'s side ${show(c.lost.value)} lost to ${who(c.kept.origin)}'s ${show(c.kept.value)}`
    : `${who(c.lost.origin)} wrote ${show(c.lost.value)}, ${who(c.kept.origin)} ${c.status === 'open' ? 'holds' : 'kept'} ${show(c.kept.value)}`;
  return `#${c.id} ${c.status.padEnd(8)} ${c.at}  ${where}  ${sides}  (${c.rule})`;
}

/** `outpost conflicts list`: the review queue (open conflicts), or all of one status. */
export async function conflictsList(o: Common & { status: string; table?: string; limit: string; after?: string }): Promise<void> {
  const status = o.status === 'all' ? undefined : (o.status as ConflictView['status']);
  const rows = await onHubDb(o.db, (db) => db.read((tx) => tx.listConflicts({ status, table: o.table, after: o.after ? Number(o.after) : 0, limit: Number(o.limit) })));
  const views = rows.map(conflictView);
  emit(!!o.json, { ok: true, conflicts: views }, views.length ? views.map(conflictLine).join('\n') : `no ${status ?? ''} conflicts`.replace('  ', ' '));
}

/** `outpost conflicts show ID`: one conflict with both sides, base, result and resolution. */
export async function conflictsShow(id: string, o: Common): Promise<void> {
  const e = await onHubDb(o.db, (db) => db.read((tx) => tx.conflictById(Number(id))));
  if (!e) throw new OutpostError('NOT_FOUND', `no conflict ${id}`);
  const c = conflictView(e);
  emit(!!o.json, { ok: true, conflict: c }, [
    conflictLine(c),
    `  lost:   ${show(c.lost.value)} by ${who(c.lost.origin)} at ${c.lost.hlc}`,
    `  kept:   ${show(c.kept.value)} by ${who(c.kept.origin)} at ${c.kept.hlc}`,
    `  base:   ${c.base === null ? 'unknown' : show(c.base.value)}`,
    `  result: ${show(c.result)}`,
    `  policy: ${c.policy ?? '-'}`,
    ...(c.resolved ? [`  resolved ${c.resolved.at} by ${c.resolved.by}: ${JSON.stringify(c.resolved.resolution)}`] : []),
  ].join('\n'));
}

/** `outpost conflicts resolve ID --take hub|node | --set col=value…`: settle an open conflict; it replicates like any change. */
export async function conflictsResolve(id: string, o: Common & { take?: string; set?: string[]; by?: string }): Promise<void> {
  if (!!o.take === !!o.set?.length) throw new OutpostError('BAD_REQUEST', 'give either --take hub|node or --set col=value (one or more)');
  if (o.take && o.take !== 'hub' && o.take !== 'node') throw new OutpostError('BAD_REQUEST', `--take is hub or node, not ${JSON.stringify(o.take)}`);
  if (!/^\d{1,15}$/.test(id)) throw new OutpostError('BAD_REQUEST', 'a conflict id is a positive integer');
  const config = loadHubConfig(o.config ?? DEFAULT_CONFIG);
  const actor = o.by ? `cli:${o.by}` : `cli:${userInfo().username}`;
  const c = await onHubDb(o.db, async (db) => {
    const hub = await Hub.open(db, config);
    const e = await db.read((tx) => tx.conflictById(Number(id)));
    if (!e) throw new OutpostError('NOT_FOUND', `no conflict ${id}`);
    const table = hub.catalogue.byName.get(e.table);
    if (!table) throw new OutpostError('UNKNOWN_TABLE', `table ${e.table} of conflict ${id} is no longer synced`);
    const decision: ConflictDecision = o.take ? { take: o.take as 'hub' | 'node' } : { set: parseSetPairs(table, o.set!) };
    return hub.resolveConflict(Number(id), decision, actor);
  });
  emit(!!o.json, { ok: true, conflict: c }, `resolved #${c.id}: ${c.table} ${JSON.stringify(c.pk)}${c.column ? `.${c.column}` : ''} = ${show(c.result)} (replicates at the nodes' next sync)`);
}
