import type { NodeRecord, Tx } from '../adapters/adapter.ts';

export interface HubReport {
  schemaVersion: string | null;
  /** the end of the change log */
  logSeq: number;
  conflicts: number;
  /** conflicts waiting for an admin's review */
  conflictsOpen: number;
  /** quarantined changes waiting for an admin (status open) */
  quarantineOpen: number;
  /** every enrolled node, with the log entries it has not pulled yet */
  nodes: (NodeRecord & { lag: number })[];
}

/** What `outpost status`, `GET /v1/status` and `/metrics` show of the hub, read in one transaction. */
export async function readHubReport(tx: Tx): Promise<HubReport> {
  const logSeq = await tx.maxLogSeq();
  const nodes = await tx.listNodes();
  const counts = await tx.conflictCounts();
  return {
    schemaVersion: await tx.getState('schema_version'),
    logSeq,
    conflicts: counts.auto + counts.open + counts.resolved,
    conflictsOpen: counts.open,
    quarantineOpen: await tx.countQuarantine('open'),
    nodes: nodes.map((n) => ({ ...n, lag: Math.max(0, logSeq - n.pulledSeq) })),
  };
}
