import type { NodeAgent, NodeStatus } from './agent.ts';
import { readSyncStatus, type SyncStatusFields } from './sync-status.ts';

/** What `outpost status --db NODE_URL --json` prints and the control endpoint's `GET /status` answers: one object. */
export type NodeStatusReport = { role: 'node' } & NodeStatus & SyncStatusFields;

export async function nodeStatusReport(agent: NodeAgent): Promise<NodeStatusReport> {
  const base = await agent.status();
  const sync = await agent.db.read((tx) => readSyncStatus(tx, { syncingSince: agent.syncingSince }));
  return { role: 'node', ...base, ...sync };
}
