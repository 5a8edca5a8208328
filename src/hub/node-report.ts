import type { Tx } from '../adapters/adapter.ts';

/**
 * What the hub holds open about one node (`GET /v1/status`): conflicts
 * waiting for an admin that this node is a side of (it wrote the losing or
 * the winning value), and its pushed changes the hub quarantined. The review
 * queue is small, so it is read in pages rather than counted by the adapters.
 */
export async function nodeOpenCounts(tx: Tx, nodeId: string): Promise<{ conflictsOpen: number; quarantineOpen: number }> {
  let conflictsOpen = 0;
  for (let after = 0; ; ) {
    const page = await tx.listConflicts({ status: 'open', after, limit: 1000 });
    conflictsOpen += page.filter((c) => c.origin === nodeId || c.winnerOrigin === nodeId).length;
    if (page.length < 1000) break;
    after = page[page.length - 1]!.id;
  }
  let quarantineOpen = 0;
  for (let after = 0; ; ) {
    const page = await tx.listQuarantine({ status: 'open', origin: nodeId, after, limit: 1000 });
    quarantineOpen += page.length;
    if (page.length < 1000) break;
    after = page[page.length - 1]!.id;
  }
  return { conflictsOpen, quarantineOpen };
}
