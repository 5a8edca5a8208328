import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubApp, hubWithLabs, queryAll, rowsOf, tempDir, type RunningHub } from '../helpers/fixtures.ts';
import { joinMatrixLab, startMatrixHub } from '../helpers/replicas.ts';

const DAY = 86_400_000;
const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const RETENTION = { retention: { horizonSeconds: 86_400, purgeEverySeconds: 0 } };
const count = (path: string, sql: string): number => queryAll<{ n: number }>(path, sql)[0]!.n;

test('a purge between the handshake and the pull: the pull answers CURSOR_EXPIRED and the lab refreshes in the same sync', async (t) => {
  let offset = 0;
  let purgeNow = false;
  let running: RunningHub | null = null;
  const { hub, labs: [a, b] } = await hubWithLabs(t, ['lab-a', 'lab-b'], {
    hub: {
      config: RETENTION, now: () => Date.now() + offset,
      // The purge lands after the handshake reply was made, before the lab's pull.
      setup: (app) => app.addHook('onSend', async (req, _reply, payload) => {
        if (req.url === '/v1/handshake' && purgeNow) (purgeNow = false, await running!.hub.purge());
        return payload;
      }),
    },
  });
  running = hub;
  const insert = a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, 1)");
  for (let n = 1; n <= 4; n++) insert.run(ID(n), `item ${n}`);
  await a!.agent.sync();
  await b!.agent.sync();
  a!.app.prepare('DELETE FROM items WHERE id IN (?, ?)').run(ID(1), ID(2));
  await a!.agent.sync();
  offset += 2 * DAY;
  await a!.agent.sync();
  purgeNow = true;
  const s = await b!.agent.sync();
  assert.ok(s.snapshotRows > 0, 'B took a fresh snapshot in the same sync');
  assert.equal(count(hub.dbPath, 'SELECT COUNT(*) AS n FROM _outpost_rows WHERE ex = 0'), 0, 'the purge ran');
  assert.deepEqual(rowsOf(b!.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.deepEqual(rowsOf(b!.path, 'items').map((r) => r.id), [ID(3), ID(4)]);
  assert.equal((await b!.agent.status()).snapshot, 'done');
});

test('a refresh cut off keeps its state and resumes; local writes made while it runs are kept and pushed', async (t) => {
  let offset = 0;
  let cut = 0;
  let duringSnapshot: (() => void) | null = null;
  const { hub, labs: [a, c] } = await hubWithLabs(t, ['lab-a', 'lab-c'], {
    hub: {
      config: RETENTION, now: () => Date.now() + offset,
      setup: (app) => app.addHook('onSend', async (req, _reply, payload) => {
        if (req.url !== '/v1/snapshot') return payload;
        duringSnapshot?.();
        if (cut > 0) (cut--, req.raw.socket.destroy());
        return payload;
      }),
    },
  });
  const insert = a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, 1)");
  for (let n = 1; n <= 5; n++) insert.run(ID(n), `item ${n}`);
  await a!.agent.sync();
  await c!.agent.sync();
  // C goes away; A deletes and edits; two days pass; the hub purges.
  a!.app.prepare('DELETE FROM items WHERE id IN (?, ?)').run(ID(1), ID(2));
  a!.app.prepare("UPDATE items SET name = 'renamed on A' WHERE id = ?").run(ID(3));
  await a!.agent.sync();
  offset += 2 * DAY;
  await a!.agent.sync();
  const r = await hub.hub.purge();
  assert.deepEqual(r.expired, ['lab-c']);

  // The first refresh breaks off: state 'refresh' is kept, nothing is lost.
  cut = 2; // twice: a request cut before its reply is sent once more
  await assert.rejects(c!.agent.sync(), (e: Error & { code?: string }) => e.code === 'HUB_UNREACHABLE');
  assert.equal((await c!.agent.status()).snapshot, 'refresh');
  assert.equal(rowsOf(c!.path, 'items').length, 5, "the lab's rows stay in place meanwhile");

  // The lab app writes while the next refresh runs: a new row and an edit.
  duringSnapshot = () => {
    duringSnapshot = null;
    c!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'made during the refresh', 9)").run(ID(9));
    c!.app.prepare('UPDATE items SET quantity = 44 WHERE id = ?').run(ID(4));
  };
  const s = await c!.agent.sync();
  assert.ok(s.snapshotRows > 0);
  assert.equal((await c!.agent.status()).snapshot, 'done');
  const mine = new Map(rowsOf(c!.path, 'items').map((x) => [x.id, x]));
  assert.deepEqual([...mine.keys()], [ID(3), ID(4), ID(5), ID(9)], 'deleted rows are gone, the new row is kept');
  assert.equal(mine.get(ID(4))!.quantity, 44);
  assert.equal(mine.get(ID(3))!.name, 'renamed on A');
  await c!.agent.sync();
  await a!.agent.sync();
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(c!.path, 'items'));
  assert.deepEqual(rowsOf(a!.path, 'items'), rowsOf(c!.path, 'items'));
});

test('capture rows are deleted once acknowledged, on the hub and on the labs; none are left unstamped', async (t) => {
  const { hub, labs: [a] } = await hubWithLabs(t, ['lab-a']);
  const web = hubApp(hub);
  t.after(() => web.close());
  const captured = (path: string): number[] => {
    const r = queryAll<{ n: number; u: number }>(path, 'SELECT COUNT(*) AS n, COUNT(*) - COUNT(seq) AS u FROM _outpost_capture')[0]!;
    return [r.n, r.u];
  };
  a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'x', 1)").run(ID(1));
  a!.app.prepare('UPDATE items SET quantity = 2 WHERE id = ?').run(ID(1));
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'web', 1)").run(ID(2));
  web.prepare('DELETE FROM items WHERE id = ?').run(ID(2));
  assert.deepEqual(captured(a!.path), [2, 2]);
  assert.deepEqual(captured(hub.dbPath), [2, 2]);
  await a!.agent.sync();
  assert.deepEqual(captured(a!.path), [0, 0], "the lab's capture rows went with the hub's ack");
  assert.deepEqual(captured(hub.dbPath), [0, 0], "the hub's went once sequenced into the log");
});

test("a lab's own row keeps counting as its own after the log entries it wrote are purged (no false KEY_COLLISION)", async (t) => {
  const dir = tempDir(t);
  const hub = await startMatrixHub(t, 'sqlite', dir, {
    schema: 'CREATE TABLE projects (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);',
    config: { tables: { projects: { direction: 'both', policy: 'merge' } }, keyRangeSize: 1000, ...RETENTION },
  });
  const a = await joinMatrixLab(t, hub, 'sqlite', dir, 'lab-a');
  await a.app.run("INSERT INTO projects (name) VALUES ('mine')");
  const [{ id }] = await a.app.query<{ id: number }>('SELECT id FROM projects');
  assert.ok(id > 1000, 'a key in the lab\'s range');
  await a.agent.sync();
  await hub.web.run("UPDATE projects SET name = 'renamed by the website' WHERE id = ?", id);
  await a.agent.sync();
  await a.agent.sync();
  const r = await hub.hub.purge();
  assert.ok(r.log > 0);
  assert.equal((await hub.web.query('SELECT 1 FROM _outpost_log WHERE origin IS NOT NULL')).length, 0, "the lab's log entries are purged");
  // The lab deletes and re-creates its row under the same key: it pushes an insert onto the hub's live row.
  await a.app.run('DELETE FROM projects WHERE id = ?', id);
  await a.app.run("INSERT INTO projects (id, name) VALUES (?, 'mine again')", id);
  const s = await a.agent.sync();
  assert.equal(s.pushed, 1);
  assert.deepEqual(await hub.web.query('SELECT id, name FROM projects'), [{ id, name: 'mine again' }]);
});
