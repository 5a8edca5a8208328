import { NodeAgent } from '../node/agent.ts';
import { verifyNode, type RowDifference, type TableReport, type VerifyReport } from '../node/verify.ts';
import { withDb, summaryLine } from './node-commands.ts';
import { emit, terminalProgress } from './output.ts';
import { readCa } from './secrets.ts';

/** Exit code of `outpost verify` when differences remain (or rows are in flight). */
export const DIFFERENCES_EXIT_CODE = 4;

/** `outpost verify --db NODE_URL [--repair] [--no-sync] [--buckets N] [--json]`. */
export function verify(o: { db: string; repair?: boolean; sync: boolean; buckets?: string; json?: boolean; ca?: string }): Promise<void> {
  const ca = readCa(o.ca);
  return withDb(o.db, async (db) => {
    const progress = terminalProgress();
    const agent = await NodeAgent.open(db, { progress, ca });
    const report = await verifyNode(agent, { repair: !!o.repair, sync: o.sync, buckets: o.buckets ? Number(o.buckets) : undefined, progress });
    if (progress) process.stderr.write('\r\x1b[K');
    emit(!!o.json, { ok: true, ...report }, humanReport(report));
    if (!report.equal) process.exitCode = DIFFERENCES_EXIT_CODE;
  });
}

function humanReport(r: VerifyReport): string {
  const out: string[] = [];
  if (r.synced) out.push(summaryLine(r.synced));
  for (const t of r.tables) out.push(...tableLines(t));
  const verdict = r.equal
    ? r.repaired ? `repaired ${r.repaired} row(s); the node now matches the hub` : 'the node matches the hub'
    : [
      r.remaining ? `${r.remaining} row(s) differ (run with --repair to take the hub's version)` : '',
      r.inFlight ? `${r.inFlight} row(s) in flight (a sync settles them; run verify again)` : '',
      r.repaired ? `${r.repaired} repaired` : '',
    ].filter(Boolean).join('; ');
  out.push(`verify: ${verdict}, ${r.durationMs} ms`);
  return out.join('\n');
}

function tableLines(t: TableReport): string[] {
  if (t.skipped) return [`${t.table}: skipped (${t.skipped})`];
  const head = `${t.table}: ${t.nodeRows} row(s) here, ${t.hubRows} on the hub`;
  if (t.differences.length === 0) return [`${head}, equal${t.bucketsMismatched ? ` (${t.bucketsMismatched} bucket(s) changed while verifying)` : ''}`];
  return [`${head}; ${t.bucketsMismatched} of ${t.buckets} buckets differ, ${t.rowsCompared} row(s) compared one by one`, ...t.differences.map(differenceLine)];
}

function differenceLine(d: RowDifference): string {
  const status = d.repaired ? 'repaired' : d.inFlight ? `in flight (${d.inFlight})` : 'differs';
  const detail = d.kind === 'values-differ'
    ? d.columns.map((c) => `${c}: here ${short(d.node?.[c])}, hub ${short(d.hub?.[c])}`).join('; ')
    : d.kind === 'missing-on-node' ? 'the hub has this row, the node does not' : 'the node has this row, the hub does not';
  return `  ${JSON.stringify(d.pk)} ${d.kind}, ${status}: ${detail}`;
}

function short(v: unknown): string {
  const s = JSON.stringify(v ?? null);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
