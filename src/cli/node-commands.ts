import { openDb, readCa } from './secrets.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { addNode, revokeNode } from '../hub/enrollment.ts';
import { NodeAgent, type SyncSummary } from '../node/agent.ts';
import { runLoop } from '../node/run-loop.ts';
import { emit, terminalProgress } from './output.ts';

/** Open the database for one command; only `join` may create it. */
export async function withDb<T>(url: string, fn: (db: Adapter) => Promise<T>, create = false): Promise<T> {
  const db = await openDb(url, { mustExist: !create });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** `outpost node add NAME`: prints the one-time code and nothing else. */
export function nodeAdd(name: string, o: { db: string }): Promise<void> {
  return withDb(o.db, async (db) => {
    const { code } = await addNode(db, name);
    process.stdout.write(code + '\n');
  });
}

export function nodeRevoke(name: string, o: { db: string }): Promise<void> {
  return withDb(o.db, async (db) => {
    await revokeNode(db, name);
    process.stderr.write(`revoked ${name}\n`);
  });
}

export function summaryLine(s: SyncSummary): string {
  const snap = s.snapshotRows ? `, snapshot ${s.snapshotRows} rows` : '';
  const q = s.quarantined ? `, quarantined ${s.quarantined} (see outpost status)` : '';
  return `synced: pushed ${s.pushed}, pulled ${s.pulled}, conflicts ${s.conflicts}${snap}${q}, ${s.durationMs} ms`;
}

/** `--timeout SECONDS` as the agent's per-request timeout (undefined: the agent's default, 60 s). */
const timeoutMs = (o: { timeout?: string }): number | undefined => (o.timeout === undefined ? undefined : Math.round(Number(o.timeout) * 1000));

export function join(o: { hub: string; code: string; db: string; json?: boolean; timeout?: string; ca?: string }): Promise<void> {
  const ca = readCa(o.ca);
  return withDb(o.db, async (db) => {
    const { agent, summary } = await NodeAgent.join(db, o.hub, o.code, { progress: terminalProgress(), timeoutMs: timeoutMs(o), ca });
    const st = await agent.status();
    emit(!!o.json, { ok: true, nodeId: st.nodeId, nodeName: st.nodeName, ...summary }, `joined ${o.hub} as ${st.nodeName} (${st.nodeId}); ${summaryLine(summary)}`);
  }, true);
}

export function sync(o: { db: string; json?: boolean; timeout?: string; ca?: string }): Promise<void> {
  const ca = readCa(o.ca);
  return withDb(o.db, async (db) => {
    const agent = await NodeAgent.open(db, { progress: terminalProgress(), timeoutMs: timeoutMs(o), ca });
    const s = await agent.sync();
    emit(!!o.json, { ok: true, ...s }, summaryLine(s));
  });
}

export function run(o: { db: string; interval: string; json?: boolean; timeout?: string; ca?: string }): Promise<void> {
  const ca = readCa(o.ca);
  return withDb(o.db, async (db) => {
    const agent = await NodeAgent.open(db, { timeoutMs: timeoutMs(o), ca });
    const ctrl = new AbortController();
    process.once('SIGINT', () => ctrl.abort());
    process.once('SIGTERM', () => ctrl.abort());
    const st = await agent.status();
    process.stderr.write(`outpost: syncing ${st.nodeName} with ${st.hub} every ${o.interval}s (Ctrl-C stops)\n`);
    await runLoop(agent, {
      intervalMs: Number(o.interval) * 1000,
      signal: ctrl.signal,
      onSync: (s) => emit(!!o.json, { ok: true, at: new Date().toISOString(), ...s }, `${new Date().toISOString()} ${summaryLine(s)}`),
      onError: (e, ms) => emit(!!o.json, { ok: false, at: new Date().toISOString(), message: e.message, retryInMs: ms }, `${new Date().toISOString()} sync failed: ${e.message}; retrying in ${(ms / 1000).toFixed(1)} s`),
    });
  });
}
