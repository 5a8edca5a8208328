import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir, startHub, joinNode, rowsOf } from '../helpers/fixtures.ts';

test('smoke: a lab insert reaches another lab', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a');
  const b = await joinNode(hub, dir, 'lab-b');
  t.after(() => a.close());
  t.after(() => b.close());
  assert.equal(rowsOf(a.path, 'labs').length, 3);
  a.app.prepare(`INSERT INTO items (id, lab_id, name, quantity, unit_price) VALUES ('0b7c9f0e-0000-4000-8000-000000000001', 'lab-a', 'Beaker 250 ml', 12, 3.5)`).run();
  const s1 = await a.agent.sync();
  assert.equal(s1.pushed, 1);
  const s2 = await b.agent.sync();
  assert.equal(s2.pulled, 1);
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(a.path, 'items'));
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(a.path, 'items'));
});
