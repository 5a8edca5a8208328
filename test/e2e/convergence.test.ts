import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir, startHub, joinNode, rowsOf, hubApp, hubWithLabs, type TestNode, type RunningHub } from '../helpers/fixtures.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function insertItem(db: TestNode['app'], n: number, lab: string, extra: Record<string, unknown> = {}): void {
  const row = { id: ID(n), lab_id: lab, name: `item ${n}`, quantity: n, unit_price: n + 0.25, ...extra };
  const cols = Object.keys(row);
  db.prepare(`INSERT INTO items (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`).run(row);
}

async function syncAll(nodes: TestNode[], rounds = 2): Promise<void> {
  for (let r = 0; r < rounds; r++) for (const n of nodes) await n.agent.sync();
}

function assertConverged(hub: RunningHub, nodes: TestNode[], table = 'items'): void {
  const want = rowsOf(hub.dbPath, table);
  for (const n of nodes) assert.deepEqual(rowsOf(n.path, table), want, `${n.path} differs from the hub in ${table}`);
}

async function threeLabs(t: Parameters<typeof tempDir>[0], opts: { skewA?: number } = {}): Promise<{ hub: RunningHub; a: TestNode; b: TestNode; c: TestNode }> {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b', 'lab-c'], { lab: (n) => (n === 'lab-a' && opts.skewA ? { now: () => Date.now() + opts.skewA! } : {}) });
  const [a, b, c] = labs as [TestNode, TestNode, TestNode];
  return { hub, a, b, c };
}

test('inserts, updates and deletes on three labs and on the hub converge', async (t) => {
  const { hub, a, b, c } = await threeLabs(t);
  const web = hubApp(hub);
  t.after(() => web.close());
  insertItem(a.app, 1, 'lab-a');
  insertItem(a.app, 2, 'lab-a', { notes: 'Ünïcødé ✓ 🧪 “quotes”' });
  insertItem(b.app, 3, 'lab-b', { serial_number: null, unit_price: null });
  insertItem(c.app, 4, 'lab-c');
  insertItem(web, 5, 'lab-c', { notes: 'written by the website' });
  await syncAll([a, b, c]);
  assertConverged(hub, [a, b, c]);
  assert.equal(rowsOf(hub.dbPath, 'items').length, 5);

  b.app.prepare('UPDATE items SET quantity = quantity - 1, notes = NULL WHERE id = ?').run(ID(2));
  c.app.prepare('DELETE FROM items WHERE id = ?').run(ID(1));
  web.prepare("UPDATE items SET status = 'repair' WHERE id = ?").run(ID(3));
  a.app.prepare('UPDATE items SET name = ? WHERE id = ?').run('renamed on A', ID(4));
  web.prepare('DELETE FROM items WHERE id = ?').run(ID(5));
  await syncAll([a, b, c]);
  assertConverged(hub, [a, b, c]);
  const rows = rowsOf(hub.dbPath, 'items') as { id: string; quantity: number; notes: string | null; status: string; name: string }[];
  assert.deepEqual(rows.map((r) => r.id), [ID(2), ID(3), ID(4)]);
  assert.equal(rows[0]!.quantity, 1);
  assert.equal(rows[0]!.notes, null);
  assert.equal(rows[1]!.status, 'repair');
  assert.equal(rows[2]!.name, 'renamed on A');
  // Nothing left to push anywhere, and nothing was captured twice (echo suppression).
  for (const n of [a, b, c]) assert.equal((await n.agent.status()).pending, 0);
});

test('concurrent edits of different columns of one row both survive', async (t) => {
  const { hub, a, b, c } = await threeLabs(t);
  insertItem(a.app, 1, 'lab-a');
  await syncAll([a, b, c]);
  a.app.prepare('UPDATE items SET quantity = 99 WHERE id = ?').run(ID(1));
  b.app.prepare("UPDATE items SET notes = 'checked by B' WHERE id = ?").run(ID(1));
  await a.agent.sync();
  await b.agent.sync();
  await syncAll([a, b, c]);
  assertConverged(hub, [a, b, c]);
  const [row] = rowsOf(hub.dbPath, 'items') as { quantity: number; notes: string }[];
  assert.equal(row!.quantity, 99);
  assert.equal(row!.notes, 'checked by B');
});

test('concurrent edits of one column resolve the same way everywhere: the later edit wins', async (t) => {
  const { hub, a, b, c } = await threeLabs(t);
  insertItem(a.app, 1, 'lab-a');
  await syncAll([a, b, c]);
  b.app.prepare("UPDATE items SET name = 'B wrote first' WHERE id = ?").run(ID(1));
  await new Promise((r) => setTimeout(r, 5));
  a.app.prepare("UPDATE items SET name = 'A wrote later' WHERE id = ?").run(ID(1));
  // A pushes first and B second: B's older edit must still lose.
  await a.agent.sync();
  await b.agent.sync();
  await syncAll([a, b, c]);
  assertConverged(hub, [a, b, c]);
  assert.equal((rowsOf(hub.dbPath, 'items')[0] as { name: string }).name, 'A wrote later');
  const conflicts = (await hub.hub.status()).conflicts;
  assert.equal(conflicts, 1, 'the losing write is recorded as a conflict');
});

test('a lab whose clock runs 24 h behind still wins with an edit made after it saw the other one', async (t) => {
  const { hub, a, b, c } = await threeLabs(t, { skewA: -86_400_000 });
  insertItem(b.app, 1, 'lab-b');
  await syncAll([b, a, c]);
  b.app.prepare("UPDATE items SET notes = 'B, on time' WHERE id = ?").run(ID(1));
  await b.agent.sync();
  await a.agent.sync(); // A sees B's edit
  a.app.prepare("UPDATE items SET notes = 'A, a day behind, but after' WHERE id = ?").run(ID(1));
  await a.agent.sync();
  await syncAll([a, b, c]);
  assertConverged(hub, [a, b, c]);
  assert.equal((rowsOf(hub.dbPath, 'items')[0] as { notes: string }).notes, 'A, a day behind, but after');
});

test('a delete wins over a concurrent update, and the updating lab converges', async (t) => {
  const { hub, a, b, c } = await threeLabs(t);
  insertItem(a.app, 1, 'lab-a');
  await syncAll([a, b, c]);
  a.app.prepare('DELETE FROM items WHERE id = ?').run(ID(1));
  b.app.prepare('UPDATE items SET quantity = 5 WHERE id = ?').run(ID(1));
  await a.agent.sync();
  await b.agent.sync();
  await syncAll([a, b, c]);
  assertConverged(hub, [a, b, c]);
  assert.equal(rowsOf(hub.dbPath, 'items').length, 0);
  assert.ok((await hub.hub.status()).conflicts >= 1);
});

test('a lab that edits a row while a newer hub edit is on its way takes the newer value', async (t) => {
  const { hub, a, b } = await threeLabs(t);
  const web = hubApp(hub);
  t.after(() => web.close());
  insertItem(a.app, 1, 'lab-a');
  await syncAll([a, b]);
  a.app.prepare("UPDATE items SET notes = 'lab A, earlier' WHERE id = ?").run(ID(1));
  await new Promise((r) => setTimeout(r, 5));
  web.prepare("UPDATE items SET notes = 'website, later' WHERE id = ?").run(ID(1));
  await a.agent.sync();
  await syncAll([a, b]);
  assertConverged(hub, [a, b]);
  assert.equal((rowsOf(hub.dbPath, 'items')[0] as { notes: string }).notes, 'website, later');
});

test('lww tables: the newest change wins the whole row, the same way everywhere', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, { config: { tables: { labs: { direction: 'down', policy: 'merge' }, categories: { direction: 'down', policy: 'merge' }, items: { direction: 'both', policy: 'lww' } } } });
  t.after(() => hub.close());
  const web = hubApp(hub);
  t.after(() => web.close());
  const [a, b] = [await joinNode(hub, dir, 'lab-a'), await joinNode(hub, dir, 'lab-b')];
  t.after(() => a.close());
  t.after(() => b.close());
  insertItem(a.app, 1, 'lab-a');
  await syncAll([a, b]);
  b.app.prepare('UPDATE items SET quantity = 50 WHERE id = ?').run(ID(1));
  await new Promise((r) => setTimeout(r, 5));
  a.app.prepare("UPDATE items SET notes = 'A, later' WHERE id = ?").run(ID(1));
  await a.agent.sync();
  await b.agent.sync();
  await syncAll([a, b]);
  assertConverged(hub, [a, b]);
  const [row] = rowsOf(hub.dbPath, 'items') as { quantity: number; notes: string }[];
  assert.equal(row!.notes, 'A, later');
  assert.equal(row!.quantity, 1, "B's older change lost as a whole row, its column included");
  // A website edit is a whole-row change too.
  web.prepare("UPDATE items SET status = 'lost' WHERE id = ?").run(ID(1));
  await syncAll([a, b]);
  assertConverged(hub, [a, b]);
});

test('a local edit made while a sync runs is pushed before a newer pulled change overwrites it, and its loss is logged', async (t) => {
  let during: (() => Promise<void>) | null = null;
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b'], {
    hub: { setup: (app) => app.addHook('onRequest', async (req) => { if (req.url.startsWith('/v1/pull') && during) { const f = during; during = null; await f(); } }) },
  });
  const [a, b] = labs as [TestNode, TestNode];
  insertItem(a.app, 1, 'lab-a');
  await syncAll([a, b]);
  // After lab A has pushed and before its pull is answered, A's app edits a row,
  // and a moment later lab B edits the same column and syncs.
  during = async () => {
    a.app.prepare("UPDATE items SET notes = 'A, during the sync' WHERE id = ?").run(ID(1));
    await new Promise((r) => setTimeout(r, 5));
    b.app.prepare("UPDATE items SET notes = 'B, a moment later' WHERE id = ?").run(ID(1));
    await b.agent.sync();
  };
  const s = await a.agent.sync();
  assert.equal(s.pushed, 1, 'the edit made during the sync was pushed before the page was applied');
  await syncAll([a, b]);
  assertConverged(hub, [a, b]);
  assert.equal((rowsOf(hub.dbPath, 'items')[0] as { notes: string }).notes, 'B, a moment later');
  const web = hubApp(hub);
  t.after(() => web.close());
  const logged = web.prepare("SELECT lost FROM _outpost_conflicts WHERE col = 'notes'").all() as { lost: string }[];
  assert.deepEqual(logged.map((r) => JSON.parse(r.lost)), ['A, during the sync'], 'the losing edit is in the conflict log');
});

test('a lab update that the hub applies after a delete and re-insert it has not seen yet converges', async (t) => {
  // One change per pull page, so that the lab applies the delete and the re-insert apart.
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b'], { hub: { config: { limits: { pullPage: 1, bodyBytes: 16 * 1024 * 1024 } } } });
  const [a, b] = labs as [TestNode, TestNode];
  const web = hubApp(hub);
  t.after(() => web.close());
  insertItem(a.app, 1, 'lab-a', { notes: 'first' });
  await syncAll([a, b]);
  // The website deletes the item and creates it again under the same key...
  web.prepare('DELETE FROM items WHERE id = ?').run(ID(1));
  web.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'again', 7, 're-created')").run(ID(1));
  await new Promise((r) => setTimeout(r, 5));
  // ...and a moment later lab A, which has seen neither, edits it.
  a.app.prepare("UPDATE items SET notes = 'A, latest' WHERE id = ?").run(ID(1));
  await a.agent.sync();
  await syncAll([a, b]);
  assertConverged(hub, [a, b]);
  const [row] = rowsOf(hub.dbPath, 'items') as { notes: string; name: string }[];
  assert.deepEqual([row!.name, row!.notes], ['again', 'A, latest']);
});

test('a row created and deleted on one lab before it was pushed does not delete a row another lab creates under that key', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b'], { lab: (n) => (n === 'lab-a' ? { now: () => Date.now() - 86_400_000 } : {}) });
  const [a, b] = labs as [TestNode, TestNode];
  insertItem(b.app, 1, 'lab-b');
  b.app.prepare('DELETE FROM items WHERE id = ?').run(ID(1));
  // Lab A, its clock a day behind, creates a row under the same key.
  insertItem(a.app, 1, 'lab-a', { name: 'made on A' });
  await syncAll([b, a, b]);
  assertConverged(hub, [a, b]);
  assert.deepEqual((rowsOf(hub.dbPath, 'items') as { name: string }[]).map((r) => r.name), ['made on A']);
});

test('a lab that re-creates a row another lab deleted, while the website edits it, ends with the hub\'s row (the hub\'s restatement is adopted as it is)', async (t) => {
  // Found by the cross-dialect property test: the website's edit was undone
  // at the hub by the delete (delete wins) but survived on the re-creating lab.
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  const web = hubApp(hub);
  t.after(() => web.close());
  insertItem(web, 2, 'lab-c');
  await a.agent.sync();
  a.app.prepare('DELETE FROM items WHERE id = ?').run(ID(2));
  // A later millisecond: within one, the two labs' stamps would order by node id, at random.
  await new Promise((r) => setTimeout(r, 5));
  b.app.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'again', 1, 'back')").run(ID(2));
  web.prepare("UPDATE items SET notes = 'website' WHERE id = ?").run(ID(2));
  await syncAll([a, b]);
  assertConverged(hub, [a, b]);
  assert.equal((rowsOf(hub.dbPath, 'items') as { name: string }[])[0]?.name, 'again');
});
