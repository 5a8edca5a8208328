import { userInfo } from 'node:os';
import { openDb } from './secrets.ts';
import type { Adapter } from '../adapters/adapter.ts';
import type { QuarantineView } from '../adapters/quarantine-view.ts';
import { HlcClock, OutpostError } from '../protocol/index.ts';
import { loadHubConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { discardQuarantined, listQuarantine, retryQuarantined, showQuarantine } from '../hub/quarantine.ts';
import { discardNodeQuarantined, listNodeQuarantine, retryNodeQuarantined } from '../node/node-quarantine.ts';
import { readNodeState } from '../node/node-state.ts';
import { DEFAULT_CONFIG } from './hub-command.ts';
import { emit } from './output.ts';

/** Who the audit trail names for a CLI action. */
const actor = (): string => {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
};

interface Opts {
  db: string;
  config?: string;
  json?: boolean;
  all?: boolean;
}

async function withRole<T>(url: string, fn: (db: Adapter, role: 'hub' | 'node') => Promise<T>): Promise<T> {
  const db = await openDb(url, { mustExist: true });
  try {
    const role = await db.read((tx) => tx.getState('role')).catch(() => null);
    if (role !== 'hub' && role !== 'node') throw new OutpostError('BAD_REQUEST', `${db.description} is neither a hub database nor a node that joined one`);
    return await fn(db, role);
  } finally {
    await db.close();
  }
}

function quarantineId(v: string): number {
  if (!/^\d{1,15}$/.test(v) || Number(v) < 1) throw new OutpostError('BAD_REQUEST', `a quarantine id is a positive integer, not ${JSON.stringify(v)}`);
  return Number(v);
}

const describe = (e: QuarantineView): string => {
  const where = e.hubId !== undefined ? ` (this node's change, hub #${e.hubId})` : e.origin === 'hub' ? ' (pulled from the hub)' : ` from ${e.originName ?? e.origin}`;
  return `#${e.id} ${e.status.padEnd(9)} ${e.op} ${e.table} ${JSON.stringify(e.pk)}${where} at ${e.at}, attempts ${e.attempts}: ${e.message}`;
};

/** `outpost quarantine list [--all]`: open quarantined changes (all with --all), on a hub or a node database. */
export function quarantineList(o: Opts): Promise<void> {
  return withRole(o.db, async (db, role) => {
    const entries = role === 'hub' ? await listQuarantine(db, o.all ? undefined : 'open') : await listNodeQuarantine(db, !!o.all);
    emit(!!o.json, { role, entries }, entries.length ? entries.map(describe).join('\n') : `no ${o.all ? '' : 'open '}quarantined changes`);
  });
}

/** `outpost quarantine show ID`. */
export function quarantineShow(id: string, o: Opts): Promise<void> {
  return withRole(o.db, async (db, role) => {
    const n = quarantineId(id);
    const e = role === 'hub' ? await showQuarantine(db, n) : (await listNodeQuarantine(db, true)).find((x) => x.id === n);
    if (!e) throw new OutpostError('NOT_FOUND', `no quarantined change #${n}`);
    emit(!!o.json, e, [describe(e), `  change: ${JSON.stringify(e.change)}`, ...(e.resolvedAt ? [`  resolved ${e.resolvedAt} by ${e.resolvedBy}`] : [])].join('\n'));
  });
}

/**
 * `outpost quarantine retry ID`: on a hub, apply the change (and those held
 * behind it) as a push from its node would be; on a node, apply a pulled
 * change it refused. If it is refused again it stays open with the new error.
 */
export function quarantineRetry(id: string, o: Opts): Promise<void> {
  return withRole(o.db, async (db, role) => {
    const n = quarantineId(id);
    if (role === 'hub') {
      const hub = await Hub.open(db, loadHubConfig(o.config ?? DEFAULT_CONFIG));
      const r = await retryQuarantined(hub, n, actor(), Date.now());
      emit(!!o.json, { ok: true, role, ...r }, r.applied
        ? `#${n} applied${r.alsoResolved.length ? ` (with ${r.alsoResolved.map((x) => `#${x}`).join(', ')} held behind it)` : ''}; nodes receive it at their next sync`
        : `#${n} was refused again and stays open (attempts ${r.entry.attempts}): ${r.entry.message}`);
      return;
    }
    const state = await db.read(readNodeState);
    const ctx = { catalogue: new Map(state.tables.map((t) => [t.name, t])), clock: new HlcClock(state.nodeId, Date.now, state.clock ?? undefined), skewMs: 0 };
    const r = await retryNodeQuarantined(db, ctx, n, actor(), Date.now());
    emit(!!o.json, { ok: true, role, ...r }, r.applied ? `#${n} applied` : `#${n} was refused again and stays open (attempts ${r.entry.attempts}): ${r.error}`);
  });
}

/**
 * `outpost quarantine discard ID`: on a hub, mark it discarded and restate
 * the hub's row so that its node converges; on a node, mark it discarded
 * (this node keeps its version of the row: `outpost verify --repair` takes the hub's).
 */
export function quarantineDiscard(id: string, o: Opts): Promise<void> {
  return withRole(o.db, async (db, role) => {
    const n = quarantineId(id);
    if (role === 'hub') {
      const hub = await Hub.open(db, loadHubConfig(o.config ?? DEFAULT_CONFIG));
      const r = await discardQuarantined(hub, n, actor(), Date.now());
      emit(!!o.json, { ok: true, role, ...r }, `#${n} discarded${r.alsoResolved.length ? ` (with ${r.alsoResolved.map((x) => `#${x}`).join(', ')} held behind it)` : ''}; the hub's version of the row goes to ${r.entry.originName ?? r.entry.origin} at its next sync`);
      return;
    }
    const r = await discardNodeQuarantined(db, n, actor(), Date.now());
    emit(!!o.json, { ok: true, role, ...r }, r.entry.hubId !== undefined
      ? `#${n} dismissed (the hub keeps its own entry #${r.entry.hubId})`
      : `#${n} discarded; this node keeps its own version of the row: run \`outpost verify --repair\` to take the hub's`);
  });
}
