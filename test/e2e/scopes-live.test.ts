import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import WebSocket from 'ws';
import Database from 'better-sqlite3';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { hubApp, queryAll, startHub, tempDir, ROOT, type RunningHub } from '../helpers/fixtures.ts';

const SCOPED = loadHubConfig(join(ROOT, 'examples/oims/outpost.scoped.config.json'));

async function labSocket(t: { after: (fn: () => unknown) => void }, hub: RunningHub, dir: string, name: string, labId: string): Promise<{ agent: NodeAgent; got: string[]; ws: WebSocket }> {
  const { code } = await addNode(hub.hub.db, name, Date.now(), { attrs: { lab_id: labId } });
  const db = new SqliteAdapter(join(dir, `${name}.db`));
  t.after(() => db.close());
  const { agent } = await NodeAgent.join(db, hub.url, code);
  const token = (await db.read(readNodeState)).token;
  // It asks for pages in pokes: a scoped hub sends none (live-page.ts).
  const ws = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/v1/live?pages=1`, { headers: { authorization: `Bearer ${token}` } });
  const got: string[] = [];
  ws.on('message', (m) => got.push(String(m)));
  await once(ws, 'open');
  t.after(() => ws.terminate());
  return { agent, got, ws };
}

const pokes = (got: string[]) => got.filter((m) => (JSON.parse(m) as { type: string }).type === 'poke').length;
const settle = () => new Promise((r) => setTimeout(r, 600));

test('live with scopes: a commit pokes only the live nodes whose read scope it touched (a poke never tells a lab of another lab\'s rows)', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, { config: SCOPED });
  t.after(() => hub.close());
  const web = hubApp(hub);
  t.after(() => web.close());
  const a = await labSocket(t, hub, dir, 'lab-a', 'lab-a');
  const b = await labSocket(t, hub, dir, 'lab-b', 'lab-b');
  await settle();
  const base = [pokes(a.got), pokes(b.got)];

  // The website writes a row of lab B: B is poked, A is not.
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('b-1', 'lab-b', 'flask', 1)").run();
  await settle();
  assert.equal(pokes(b.got), base[1]! + 1, 'lab B poked for its row');
  assert.equal(pokes(a.got), base[0], 'lab A not poked for lab B\'s row');

  // The row moves from lab B to lab A: both are poked (B loses it, A gains it).
  web.prepare("UPDATE items SET lab_id = 'lab-a' WHERE id = 'b-1'").run();
  await settle();
  assert.equal(pokes(a.got), base[0]! + 1);
  assert.equal(pokes(b.got), base[1]! + 2);

  // Down tables concern everyone.
  web.prepare("UPDATE labs SET building = 'North' WHERE id = 'lab-c'").run();
  await settle();
  assert.equal(pokes(a.got), base[0]! + 2);
  assert.equal(pokes(b.got), base[1]! + 3);

  // Lab B's own push of a lab-B row pokes nobody else (lab A's scope is untouched).
  const app = new Database(join(dir, 'lab-b.db'));
  t.after(() => app.close());
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('b-2', 'lab-b', 'tube', 1)").run();
  await b.agent.sync();
  await settle();
  assert.equal(pokes(a.got), base[0]! + 2);
  assert.equal(queryAll(hub.dbPath, "SELECT COUNT(*) AS n FROM items WHERE id = 'b-2'")[0]!.n, 1);
  // No poke carried a page (a page would bypass the scoped pull's projection).
  for (const m of [...a.got, ...b.got]) assert.equal((JSON.parse(m) as { page?: unknown }).page, undefined);
});
