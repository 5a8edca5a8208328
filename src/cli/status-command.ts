import { openDb } from './secrets.ts';
import { NodeAgent } from '../node/agent.ts';
import { nodeStatusReport } from '../node/status-report.ts';
import { readHubReport } from '../hub/hub-report.ts';
import { emit } from './output.ts';
import { listQuarantine } from '../hub/quarantine.ts';
import type { QuarantineView } from '../adapters/quarantine-view.ts';

/** One line per open quarantined change (at most 20; `outpost quarantine list` has them all). */
function quarantineLines(entries: readonly QuarantineView[], line: (e: QuarantineView) => string): string[] {
  const out = entries.slice(0, 20).map((e) => `  ${line(e)}`);
  if (entries.length > 20) out.push(`  … and ${entries.length - 20} more (outpost quarantine list)`);
  return out;
}
const what = (e: QuarantineView): string => `${e.op === 'I' ? 'insert' : e.op === 'U' ? 'update' : 'delete'} of ${e.table} ${JSON.stringify(e.pk)}`;

/** `outpost status`: a node's pending changes, last sync and cursor; a hub's nodes and their lag. */
export async function status(o: { db: string; json?: boolean }): Promise<void> {
  const db = await openDb(o.db, { mustExist: true });
  try {
    const role = await db.read((tx) => tx.getState('role')).catch(() => null);
    if (role === 'hub') {
      const r = await db.read(readHubReport);
      const nodes = r.nodes.map((n) => ({
        name: n.name, id: n.id, state: n.revokedAt ? 'revoked' : n.joinedAt ? 'joined' : 'invited',
        lag: n.lag, acked: n.ackedSeq, lastSeen: n.lastSeen ? new Date(n.lastSeen).toISOString() : null,
      }));
      const quarantine = await listQuarantine(db, 'open');
      const s = { role: 'hub', schemaVersion: r.schemaVersion, logSeq: r.logSeq, conflicts: r.conflicts, conflictsOpen: r.conflictsOpen, nodes, quarantineOpen: r.quarantineOpen, quarantine };
      const lines = [`hub: log at ${s.logSeq}, ${s.nodes.length} node(s), ${s.conflicts} conflict(s) recorded, ${s.conflictsOpen} waiting for review (outpost conflicts list)`];
      for (const n of s.nodes) lines.push(`  ${n.name.padEnd(16)} ${n.state.padEnd(8)} lag ${String(n.lag).padStart(6)}  last seen ${n.lastSeen ?? 'never'}`);
      if (quarantine.length) {
        lines.push(`quarantined: ${r.quarantineOpen} change(s) the hub database refused, waiting for an admin (outpost quarantine retry|discard ID):`);
        lines.push(...quarantineLines(quarantine, (e) => `#${e.id} ${what(e)} from ${e.originName ?? e.origin} at ${e.at}: ${e.message}`));
      }
      emit(!!o.json, s, lines.join('\n'));
      return;
    }
    const agent = await NodeAgent.open(db);
    const s = await nodeStatusReport(agent);
    const failed = s.lastAttempt && !s.lastAttempt.ok ? ` since ${s.lastAttempt.at}: ${s.lastAttempt.message} [${s.lastAttempt.code}]` : '';
    emit(!!o.json, s, [
      `node ${s.nodeName} (${s.nodeId}) of ${s.hub}`,
      `  state: ${s.state}${s.state === 'syncing' ? ` since ${s.syncingSince}` : failed}${s.nextSyncAt ? `   next sync: ${s.nextSyncAt}` : ''}`,
      `  behind the hub: ${s.lag ?? 'unknown'}   open conflicts: ${s.conflictsOpen ?? 'unknown'}   (as of ${s.hubContactAt ?? 'never'})`,
      `  pending local changes: ${s.pending}`,
      `  last sync: ${s.lastSyncAt ?? 'never'}${s.lastError ? `   last error: ${s.lastError}` : ''}`,
      `  cursor: ${s.cursor}   acknowledged up to: ${s.acked}   snapshot: ${s.snapshot}`,
      ...(s.quarantine.length ? [`  quarantined: ${s.quarantine.length} open`] : []),
      ...quarantineLines(s.quarantine, (e) => e.hubId !== undefined
        ? `your ${what(e)} was quarantined at the hub (hub #${e.hubId}) at ${e.at}: ${e.message}`
        : `#${e.id} the hub's ${what(e)} was quarantined here at ${e.at} (attempts ${e.attempts}): ${e.message}`),
    ].join('\n'));
  } finally {
    await db.close();
  }
}
