import { openAdapter } from '../adapters/open.ts';
import { NodeAgent } from '../node/agent.ts';
import { readHubReport } from '../hub/hub-report.ts';
import { emit } from './output.ts';

/** `outpost status`: a node's pending changes, last sync and cursor; a hub's nodes and their lag. */
export async function status(o: { db: string; json?: boolean }): Promise<void> {
  const db = await openAdapter(o.db, { mustExist: true });
  try {
    const role = await db.read((tx) => tx.getState('role')).catch(() => null);
    if (role === 'hub') {
      const r = await db.read(readHubReport);
      const nodes = r.nodes.map((n) => ({
        name: n.name, id: n.id, state: n.revokedAt ? 'revoked' : n.joinedAt ? 'joined' : 'invited',
        lag: n.lag, acked: n.ackedSeq, lastSeen: n.lastSeen ? new Date(n.lastSeen).toISOString() : null,
      }));
      const s = { role: 'hub', schemaVersion: r.schemaVersion, logSeq: r.logSeq, conflicts: r.conflicts, conflictsOpen: r.conflictsOpen, nodes };
      const lines = [`hub: log at ${s.logSeq}, ${s.nodes.length} node(s), ${s.conflicts} conflict(s) recorded, ${s.conflictsOpen} waiting for review (outpost conflicts list)`];
      for (const n of s.nodes) lines.push(`  ${n.name.padEnd(16)} ${n.state.padEnd(8)} lag ${String(n.lag).padStart(6)}  last seen ${n.lastSeen ?? 'never'}`);
      emit(!!o.json, s, lines.join('\n'));
      return;
    }
    const agent = await NodeAgent.open(db);
    const s = await agent.status();
    emit(!!o.json, { role: 'node', ...s }, [
      `node ${s.nodeName} (${s.nodeId}) of ${s.hub}`,
      `  pending local changes: ${s.pending}`,
      `  last sync: ${s.lastSyncAt ?? 'never'}${s.lastError ? `   last error: ${s.lastError}` : ''}`,
      `  cursor: ${s.cursor}   acknowledged up to: ${s.acked}   snapshot: ${s.snapshot}`,
    ].join('\n'));
  } finally {
    await db.close();
  }
}
