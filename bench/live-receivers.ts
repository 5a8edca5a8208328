/**
 * A worker thread of `npm run bench:live` (bench/live.ts): it joins its share
 * of the receiving nodes, runs each in live mode, and reports every sync
 * that applied something with the time it ended (ms since the epoch, to the
 * microsecond: comparable across threads). The main thread starts and times
 * the commits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { join } from 'node:path';
import { SqliteAdapter } from '../src/adapters/sqlite/sqlite-adapter.ts';
import { NodeAgent } from '../src/node/agent.ts';
import { runLive } from '../src/node/live-loop.ts';

export interface ReceiversData {
  hubUrl: string;
  dir: string;
  nodes: { name: string; code: string }[];
}
export type ReceiversMessage = { type: 'ready' } | { type: 'applied'; at: number } | { type: 'stopped'; error: string | null } | { type: 'failed'; error: string };

const data = workerData as ReceiversData;
const port = parentPort!;
const now = (): number => performance.timeOrigin + performance.now();
const send = (m: ReceiversMessage): void => port.postMessage(m);
const ctrl = new AbortController();
port.on('message', (m: { type: 'stop' }) => {
  if (m.type === 'stop') ctrl.abort();
});

try {
  const nodes: { agent: NodeAgent; db: SqliteAdapter }[] = [];
  for (const { name, code } of data.nodes) {
    const db = new SqliteAdapter(join(data.dir, `${name}.db`));
    nodes.push({ agent: (await NodeAgent.join(db, data.hubUrl, code)).agent, db });
  }
  let stopped: string | null = null;
  const loops = nodes.map((r) =>
    runLive(r.agent, { intervalMs: 3_600_000, signal: ctrl.signal, captureWatchMs: 0, onSync: (s) => s.pulled > 0 && send({ type: 'applied', at: now() }) })
      .catch((e: Error) => (stopped ??= e.message)),
  );
  while (nodes.some((r) => r.agent.live?.state !== 'connected') && !ctrl.signal.aborted) await new Promise((r) => setTimeout(r, 20));
  send({ type: 'ready' });
  await Promise.all(loops);
  for (const r of nodes) await r.db.close();
  send({ type: 'stopped', error: stopped });
} catch (e) {
  send({ type: 'failed', error: (e as Error).message });
}
