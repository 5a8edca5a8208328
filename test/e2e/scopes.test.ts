import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setNodeAttrs } from '../../src/hub/enrollment.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { hubApp, queryAll, startHub, tempDir, ROOT, type RunningHub } from '../helpers/fixtures.ts';
import { joinLabWithAttrs } from '../helpers/fixtures.ts';

const SCOPED = loadHubConfig(join(ROOT, 'examples/oims/outpost.scoped.config.json'));

const lab = (hub: RunningHub, dir: string, name: string, labId: string) => joinLabWithAttrs(hub, dir, name, { lab_id: labId });

const ids = (path: string) => queryAll<{ id: string }>(path, 'SELECT id FROM items ORDER BY id').map((r) => r.id);

test('each lab receives and keeps only the items of its own lab; rows move in and out of scope', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, { config: SCOPED });
  t.after(() => hub.close());
  const web = hubApp(hub);
  t.after(() => web.close());
  const ins = web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, ?, ?, 1)");
  ins.run('a-1', 'lab-a', 'beaker');
  ins.run('b-1', 'lab-b', 'CANARY flask');
  const a = await lab(hub, dir, 'lab-a', 'lab-a');
  const b = await lab(hub, dir, 'lab-b', 'lab-b');
  t.after(() => a.close());
  t.after(() => b.close());
  await a.agent.sync();
  await b.agent.sync();
  assert.deepEqual(ids(a.path), ['a-1']);
  assert.deepEqual(ids(b.path), ['b-1']);
  // Down tables go to everyone.
  assert.equal(queryAll(a.path, 'SELECT * FROM labs').length, 3);

  // The website moves b-1 into lab A, and a-1 out to lab C; edits b-1 again.
  web.prepare("UPDATE items SET lab_id = 'lab-a' WHERE id = 'b-1'").run();
  web.prepare("UPDATE items SET lab_id = 'lab-c' WHERE id = 'a-1'").run();
  web.prepare("UPDATE items SET name = 'flask 2' WHERE id = 'b-1'").run();
  await a.agent.sync();
  await b.agent.sync();
  assert.deepEqual(ids(a.path), ['b-1']);
  assert.deepEqual(queryAll(a.path, "SELECT name, lab_id FROM items WHERE id = 'b-1'"), [{ name: 'flask 2', lab_id: 'lab-a' }]);
  assert.deepEqual(ids(b.path), []);

  // A lab's own edits and inserts in scope go through as ever.
  a.app.prepare("UPDATE items SET quantity = 9 WHERE id = 'b-1'").run();
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('a-2', 'lab-a', 'pipette', 3)").run();
  await a.agent.sync();
  assert.deepEqual(queryAll(hub.dbPath, "SELECT id, quantity FROM items WHERE id IN ('a-2', 'b-1') ORDER BY id"), [{ id: 'a-2', quantity: 3 }, { id: 'b-1', quantity: 9 }]);

  // Lab A moves its own row to lab B: refused (quarantined), the hub keeps it in lab A, and so does lab A after its sync.
  a.app.prepare("UPDATE items SET lab_id = 'lab-b' WHERE id = 'a-2'").run();
  const s = await a.agent.sync();
  assert.equal(s.quarantined, 1);
  assert.deepEqual(queryAll(hub.dbPath, "SELECT lab_id FROM items WHERE id = 'a-2'"), [{ lab_id: 'lab-a' }]);
  await a.agent.sync();
  assert.deepEqual(queryAll(a.path, "SELECT lab_id FROM items WHERE id = 'a-2'"), [{ lab_id: 'lab-a' }]);
  await b.agent.sync();
  assert.deepEqual(ids(b.path), []);
  const q = queryAll<{ code: string; status: string }>(hub.dbPath, 'SELECT code, status FROM _outpost_quarantine');
  assert.deepEqual(q, [{ code: 'OUT_OF_SCOPE', status: 'open' }]);
});

test('an out-of-scope insert is refused and removed from the lab; a new attribute brings a fresh snapshot of the new scope', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, { config: SCOPED });
  t.after(() => hub.close());
  const web = hubApp(hub);
  t.after(() => web.close());
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('b-1', 'lab-b', 'flask', 1)").run();
  const a = await lab(hub, dir, 'lab-a', 'lab-a');
  t.after(() => a.close());
  await a.agent.sync();
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('x-1', 'lab-b', 'smuggled', 1)").run();
  const s = await a.agent.sync();
  assert.equal(s.quarantined, 1);
  assert.deepEqual(queryAll(hub.dbPath, "SELECT id FROM items WHERE id = 'x-1'"), []);
  await a.agent.sync();
  assert.deepEqual(ids(a.path), []);
  // lab-a becomes lab-b: its next sync re-snapshots.
  await setNodeAttrs(hub.hub.db, 'lab-a', { lab_id: 'lab-b' });
  await a.agent.sync();
  assert.deepEqual(ids(a.path), ['b-1']);
});
