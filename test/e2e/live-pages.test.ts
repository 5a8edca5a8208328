import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { hubApp, hubWithLabs, queryAll, rowsOf, type RunningHub, type TestNode } from '../helpers/fixtures.ts';
import { goLive, until } from '../helpers/live.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { LIVE_CLOSE, liveServerMessageSchema } from '../../src/protocol/index.ts';

// Pages in pokes (docs/live.md): a poke may carry the commit's changes, which
// a live lab whose cursor is where the page starts applies without a pull.

const id = (n: number): string => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const item = (n: number, lab = 'lab-a'): string => `INSERT INTO items (id, lab_id, name, quantity) VALUES ('${id(n)}', '${lab}', 'item ${n}', ${n})`;
const has = (lab: TestNode, n: number): boolean => queryAll(lab.path, 'SELECT 1 FROM items WHERE id = ?', id(n)).length === 1;

/** A counter of the hub's /metrics without labels. */
async function metric(hub: RunningHub, name: string): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

/** Two labs and a hub that counts each credential's pull requests. */
async function setup(t: Parameters<typeof hubWithLabs>[0]): Promise<{ hub: RunningHub; a: TestNode; b: TestNode; pullsOf: (lab: TestNode) => Promise<number> }> {
  const pulls = new Map<string, number>();
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b'], {
    hub: {
      setup: (app) => app.addHook('onRequest', async (req) => {
        if (req.url.startsWith('/v1/pull')) pulls.set(req.headers.authorization ?? '', (pulls.get(req.headers.authorization ?? '') ?? 0) + 1);
      }),
    },
  });
  const pullsOf = async (lab: TestNode): Promise<number> => pulls.get(`Bearer ${(await lab.db.read(readNodeState)).token}`) ?? 0;
  return { hub, a: labs[0]!, b: labs[1]!, pullsOf };
}

async function connected(t: Parameters<typeof goLive>[0], lab: TestNode): Promise<void> {
  goLive(t, lab, { captureWatchMs: 0 });
  await until(() => lab.agent.live?.state === 'connected', 5000, 'connected');
  // The first sync after connecting (a full one) is done.
  await until(async () => (await lab.db.read(readNodeState)).lastSyncAt !== null, 5000, 'first sync');
  await new Promise((r) => setTimeout(r, 200));
}

/** The hub's recorded pull position of a lab (after the batched positions are written). */
async function pulledSeq(hub: RunningHub, lab: TestNode): Promise<number> {
  await hub.hub.flushPulled();
  const nodeId = (await lab.db.read(readNodeState)).nodeId;
  return queryAll<{ p: number }>(hub.dbPath, 'SELECT pulled_seq AS p FROM _outpost_nodes WHERE id = ?', nodeId)[0]!.p;
}

test('live pages: another lab\'s push reaches a live lab in its poke, applied without a pull, and the lab\'s ack moves its position at the hub', async (t) => {
  const { hub, a, b, pullsOf } = await setup(t);
  await connected(t, b);
  const [pulls, pages, sent] = [await pullsOf(b), await metric(hub, 'outpost_live_poke_pages_total'), await metric(hub, 'outpost_pulled_changes_total')];

  a.app.exec(item(1));
  a.app.exec(`UPDATE items SET quantity = 7 WHERE id = '${id(1)}'`);
  await a.agent.sync();
  await until(() => has(b, 1), 3000, 'lab b has lab a\'s row');
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.equal(await pullsOf(b), pulls, 'lab b did not pull');
  assert.equal(await metric(hub, 'outpost_live_poke_pages_total'), pages + 1, 'one poke with a page');
  assert.equal(await metric(hub, 'outpost_pulled_changes_total'), sent + 1, 'its change counted with the changes pulls send (lab a pulled none)');
  const head = queryAll<{ m: number }>(hub.dbPath, 'SELECT MAX(seq) AS m FROM _outpost_log')[0]!.m;
  assert.equal((await b.db.read(readNodeState)).cursor, head, 'lab b\'s cursor is the hub\'s head');
  await until(async () => (await pulledSeq(hub, b)) === head, 2000, 'the hub has lab b\'s ack');
  assert.equal((await b.agent.status()).pending, 0, 'applying the page captured nothing');

  // A website edit and delete go the same way.
  const web = hubApp(hub);
  t.after(() => web.close());
  web.exec(`UPDATE items SET name = 'renamed on the website' WHERE id = '${id(1)}'`);
  await until(() => queryAll<{ name: string }>(b.path, 'SELECT name FROM items WHERE id = ?', id(1))[0]?.name === 'renamed on the website', 3000, 'the website\'s edit');
  web.exec(`DELETE FROM items WHERE id = '${id(1)}'`);
  await until(() => !has(b, 1), 3000, 'the website\'s delete');
  assert.equal(await pullsOf(b), pulls, 'still no pull');
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
});

test('live pages: a page that does not start at the lab\'s cursor is not applied; the lab pulls what it missed, in order', async (t) => {
  const { hub, a, b, pullsOf } = await setup(t);
  await connected(t, b);
  // The log moves past lab b's cursor without a poke to it (lab a's stock
  // movement: an `up` table, which lab b never receives), so the next page
  // starts after a position lab b has not reached.
  a.app.exec(item(1));
  await a.agent.sync();
  await until(() => has(b, 1), 3000, 'the first row');
  const cursor = (await b.db.read(readNodeState)).cursor;
  a.app.exec(`INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES ('m1', '${id(1)}', 'lab-a', 1, 'count')`);
  await a.agent.sync();
  assert.equal((await b.db.read(readNodeState)).cursor, cursor, 'no poke for an up table');
  const pulls = await pullsOf(b);
  a.app.exec(item(2));
  await a.agent.sync();
  await until(() => has(b, 2), 3000, 'the second row');
  assert.ok((await pullsOf(b)) > pulls, 'lab b pulled instead of applying the page');
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.equal(queryAll(b.path, 'SELECT 1 FROM stock_movements').length, 0);
});

test('live pages: a commit of more than 64 log entries pokes without a page, and the lab pulls it', async (t) => {
  const { hub, a, b, pullsOf } = await setup(t);
  await connected(t, b);
  const [pulls, pages] = [await pullsOf(b), await metric(hub, 'outpost_live_poke_pages_total')];
  a.app.exec(`BEGIN; ${Array.from({ length: 80 }, (_, i) => item(100 + i)).join('; ')}; COMMIT`);
  await a.agent.sync();
  await until(() => rowsOf(b.path, 'items').length === 80, 3000, 'all 80 rows');
  assert.equal(await metric(hub, 'outpost_live_poke_pages_total'), pages, 'no page');
  assert.ok((await pullsOf(b)) > pulls, 'a pull');
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
});

test('live pages: a page over a row the lab has edited and not pushed yet is not applied; the full sync pushes first, and the edits merge as in any sync', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  a.app.exec(item(1));
  await a.agent.sync();
  await b.agent.sync();
  await connected(t, b); // its capture watch is off: its edit stays pending until a sync
  b.app.exec(`UPDATE items SET name = 'renamed on b' WHERE id = '${id(1)}'`);
  a.app.exec(`UPDATE items SET quantity = 42 WHERE id = '${id(1)}'`);
  await a.agent.sync();
  await until(() => queryAll<{ quantity: number }>(b.path, 'SELECT quantity FROM items WHERE id = ?', id(1))[0]?.quantity === 42, 3000, 'lab a\'s edit on lab b');
  assert.equal((await b.agent.status()).pending, 0, 'lab b\'s edit was pushed');
  const [row] = rowsOf(hub.dbPath, 'items') as { name: string; quantity: number }[];
  assert.deepEqual([row!.name, row!.quantity], ['renamed on b', 42], 'both columns\' edits survive (merge)');
  await a.agent.sync();
  assert.deepEqual(rowsOf(a.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
});

test('live pages: only sockets opened with ?pages=1 get pages; an ack past the log\'s end is ignored, a malformed one closes the socket', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  const token = (await b.db.read(readNodeState)).token;
  const open = async (query: string): Promise<WebSocket & { got: string[] }> => {
    const ws = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/v1/live${query}`, { headers: { authorization: `Bearer ${token}` } }) as WebSocket & { got: string[] };
    ws.got = [];
    ws.on('message', (m) => ws.got.push(String(m)));
    await once(ws, 'open');
    t.after(() => ws.terminate());
    return ws;
  };
  const withPages = await open('?pages=1');
  const plain = await open('');
  await until(() => withPages.got.length === 1 && plain.got.length === 1, 2000, 'both hellos');
  a.app.exec(item(1));
  await a.agent.sync();
  await until(() => withPages.got.length === 2 && plain.got.length === 2, 2000, 'both pokes');
  const paged = liveServerMessageSchema.parse(JSON.parse(withPages.got[1]!));
  const bare = liveServerMessageSchema.parse(JSON.parse(plain.got[1]!));
  assert.equal(paged.type, 'poke');
  assert.equal(bare.type, 'poke');
  assert.ok(paged.type === 'poke' && paged.page, 'a page');
  assert.ok(bare.type === 'poke' && !bare.page, 'no page without ?pages=1');
  assert.deepEqual(paged.page.changes.map((c) => [c.table, c.op, c.pk]), [['items', 'I', [id(1)]]]);
  assert.equal(paged.page.from, paged.head - 1);

  const before = await pulledSeq(hub, b);
  withPages.send(JSON.stringify({ type: 'ack', cursor: paged.head + 1000 }));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await pulledSeq(hub, b), before, 'an ack past the log\'s end is not recorded');
  withPages.send(JSON.stringify({ type: 'ack', cursor: paged.head }));
  await until(async () => (await pulledSeq(hub, b)) === paged.head, 2000, 'the ack recorded');
  withPages.send(JSON.stringify({ type: 'ack', cursor: -1 }));
  const [code] = (await once(withPages, 'close')) as [number];
  assert.equal(code, LIVE_CLOSE.badMessage);
});

test('live pages: a change the lab\'s database refuses is quarantined there, later pages of that row wait behind it, and all of it applies once the lab makes room, as with pulls', async (t) => {
  const { hub, a, b, pullsOf } = await setup(t);
  b.app.exec('CREATE UNIQUE INDEX items_serial ON items (serial_number)');
  b.app.exec(`INSERT INTO items (id, lab_id, name, quantity, serial_number) VALUES ('${id(1)}', 'lab-b', 'own of b', 1, 'S-1')`);
  await b.agent.sync();
  await connected(t, b);
  const pulls = await pullsOf(b);
  const open = (): number => queryAll(b.path, "SELECT 1 FROM _outpost_quarantine WHERE status = 'open'").length;
  // Lab a's item takes the same serial: the hub has no such index, lab b's database refuses it.
  a.app.exec(`INSERT INTO items (id, lab_id, name, quantity, serial_number) VALUES ('${id(2)}', 'lab-a', 'of a', 2, 'S-1')`);
  await a.agent.sync();
  await until(() => open() === 1, 3000, 'the refused insert quarantined on lab b');
  // A later edit of that row waits behind it instead of being applied on its own.
  a.app.exec(`UPDATE items SET name = 'of a, renamed' WHERE id = '${id(2)}'`);
  await a.agent.sync();
  await until(() => open() === 2, 3000, 'the edit quarantined behind the insert');
  assert.equal(has(b, 2), false);
  assert.equal(await pullsOf(b), pulls, 'both came as pages');
  // Lab b makes room. As after a pull that brought something, the next page retries the quarantined changes, in order.
  b.app.exec(`UPDATE items SET serial_number = 'S-1b' WHERE id = '${id(1)}'`);
  await b.agent.sync();
  a.app.exec(item(3));
  await a.agent.sync();
  await until(() => open() === 0 && has(b, 3), 3000, 'the quarantine cleared');
  assert.equal(queryAll<{ name: string }>(b.path, 'SELECT name FROM items WHERE id = ?', id(2))[0]?.name, 'of a, renamed');
  await a.agent.sync();
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
});
