import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir, startHub, joinNode, rowsOf, hubApp, hubWithLabs, type TestNode } from '../helpers/fixtures.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import type { OutpostError } from '../../src/protocol/index.ts';

test('down: a lab app write fails at once with a clear error, and hub writes reach the labs', async (t) => {
  const { hub, labs: [a] } = await hubWithLabs(t, ['lab-a']);
  assert.throws(() => a.app.prepare("INSERT INTO labs (id, name) VALUES ('lab-z', 'rogue')").run(), /table labs is read-only on this node \(direction down\)/);
  assert.throws(() => a.app.prepare("UPDATE categories SET name = 'x'").run(), /read-only/);
  assert.throws(() => a.app.prepare('DELETE FROM labs').run(), /read-only/);
  assert.equal((await a.agent.status()).pending, 0);

  const web = hubApp(hub);
  t.after(() => web.close());
  web.prepare("INSERT INTO labs (id, name) VALUES ('lab-d', 'Geology Lab D')").run();
  web.prepare("UPDATE categories SET name = 'Glass' WHERE id = 'glassware'").run();
  await a.agent.sync();
  assert.deepEqual(rowsOf(a.path, 'labs'), rowsOf(hub.dbPath, 'labs'));
  assert.deepEqual(rowsOf(a.path, 'categories'), rowsOf(hub.dbPath, 'categories'));
});

test('down: a crafted push to a down table is refused with TABLE_READ_ONLY and changes nothing', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const { code } = await addNode(hub.hub.db, 'crafty');
  const { token } = await new HubClient(hub.url).join(code);
  const client = new HubClient(hub.url, token);
  const hs = await client.handshake({ protocol: 1, schemaVersion: null });
  const before = rowsOf(hub.dbPath, 'labs');
  await assert.rejects(
    client.push({ from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock: hs.clock, changes: [{ table: 'labs', pk: ['lab-a'], op: 'U', hlc: hs.clock, cols: { name: 'hijacked' } }] }),
    (e: OutpostError) => e.code === 'TABLE_READ_ONLY' && (e.details as { status: number }).status === 403,
  );
  assert.deepEqual(rowsOf(hub.dbPath, 'labs'), before);
});

test('up: rows reach the hub and are not sent on to other labs', async (t) => {
  const { dir, hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('00000000-0000-4000-8000-000000000001', 'lab-a', 'flask', 10)").run();
  a.app.prepare("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason, user_name) VALUES ('m1', '00000000-0000-4000-8000-000000000001', 'lab-a', -2, 'experiment', 'ada')").run();
  await a.agent.sync();
  await b.agent.sync();
  assert.equal(rowsOf(hub.dbPath, 'stock_movements').length, 1);
  assert.deepEqual(rowsOf(hub.dbPath, 'stock_movements'), rowsOf(a.path, 'stock_movements'));
  assert.equal(rowsOf(b.path, 'stock_movements').length, 0, 'lab B never receives lab A\'s usage log');
  assert.equal(rowsOf(b.path, 'items').length, 1, 'but it does receive the item (direction both)');
  // A lab that joins later does not get them in its snapshot either.
  const c = await joinNode(hub, dir, 'lab-c');
  t.after(() => c.close());
  assert.equal(rowsOf(c.path, 'stock_movements').length, 0);
  assert.equal(rowsOf(c.path, 'items').length, 1);
});
