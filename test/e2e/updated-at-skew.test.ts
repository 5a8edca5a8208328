import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hubApp, hubWithLabs, oimsDatabase, queryAll, rowsOf, tempDir } from '../helpers/fixtures.ts';

/**
 * The seeds' rule — a row from a lab replaces the central one `WHERE
 * updated_at < ?` (the lab's timestamp) — against Outpost's stamps, in the
 * same story: lab B renames a flask; lab A, whose wall clock is a day
 * behind, syncs (it now has B's name), then corrects the name. A's edit
 * came after B's and must win. The timestamp rule drops it silently;
 * Outpost keeps it.
 */
const DAY = 86_400_000;
const FLASK = '5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f';
const iso = (ms: number): string => new Date(ms).toISOString();

test("the seeds' `WHERE updated_at < ?` rule loses a lab's later edit when its clock is a day behind", (t) => {
  const dir = tempDir(t);
  const open = (name: string): Database.Database => {
    const db = new Database(oimsDatabase(join(dir, `${name}.db`)));
    t.after(() => db.close());
    return db;
  };
  const central = open('central');
  const labA = open('lab-a');
  const labB = open('lab-b');
  const clockA = (): number => Date.now() - DAY;
  const clockB = (): number => Date.now();
  for (const db of [central, labA, labB]) {
    db.prepare("INSERT INTO items (id, lab_id, name, quantity, updated_at) VALUES (?, 'lab-a', 'Erlenmeyer flask', 24, ?)").run(FLASK, iso(Date.now() - 2 * DAY));
  }
  // The seeds' sync: push a lab's row where the central one is older; pull the central row.
  const push = (lab: Database.Database): number => {
    const row = lab.prepare('SELECT name, updated_at FROM items WHERE id = ?').get(FLASK) as { name: string; updated_at: string };
    return central.prepare('UPDATE items SET name = ?, updated_at = ? WHERE id = ? AND updated_at < ?').run(row.name, row.updated_at, FLASK, row.updated_at).changes;
  };
  const pull = (lab: Database.Database): void => {
    const row = central.prepare('SELECT name, updated_at FROM items WHERE id = ?').get(FLASK) as { name: string; updated_at: string };
    lab.prepare('UPDATE items SET name = ?, updated_at = ? WHERE id = ?').run(row.name, row.updated_at, FLASK);
  };

  labB.prepare('UPDATE items SET name = ?, updated_at = ? WHERE id = ?').run('Erlenmeyer flask 250 ml', iso(clockB()), FLASK);
  assert.equal(push(labB), 1);
  pull(labA);
  assert.equal((labA.prepare('SELECT name FROM items').get() as { name: string }).name, 'Erlenmeyer flask 250 ml', 'A has seen B\'s edit');
  labA.prepare('UPDATE items SET name = ?, updated_at = ? WHERE id = ?').run('Erlenmeyer flask 500 ml', iso(clockA()), FLASK);
  assert.equal(push(labA), 0, "A's later edit is refused: its timestamp is older than B's");
  pull(labA);
  const [row] = queryAll<{ name: string }>(join(dir, 'lab-a.db'), 'SELECT name FROM items');
  assert.equal(row!.name, 'Erlenmeyer flask 250 ml', "and A's edit is gone from A too, with no trace anywhere");
});

test("Outpost keeps the same later edit of the lab whose clock is a day behind: its stamp follows the edit it saw", async (t) => {
  const names = ['lab-a', 'lab-b'];
  const { hub, labs } = await hubWithLabs(t, names, { lab: (name) => ({ now: () => Date.now() - (name === 'lab-a' ? DAY : 0) }) });
  const [a, b] = labs as [NonNullable<(typeof labs)[0]>, NonNullable<(typeof labs)[1]>];
  const web = hubApp(hub);
  t.after(() => web.close());
  web.prepare("INSERT INTO items (id, lab_id, name, quantity, updated_at) VALUES (?, 'lab-a', 'Erlenmeyer flask', 24, ?)").run(FLASK, iso(Date.now() - 2 * DAY));
  for (const l of labs) await l.agent.sync();

  b.app.prepare('UPDATE items SET name = ?, updated_at = ? WHERE id = ?').run('Erlenmeyer flask 250 ml', iso(Date.now()), FLASK);
  await b.agent.sync();
  await a.agent.sync();
  assert.equal((a.app.prepare('SELECT name FROM items').get() as { name: string }).name, 'Erlenmeyer flask 250 ml', "A has seen B's edit");
  // The lab app writes updated_at from its own (wrong) clock, as the seeds' app does.
  a.app.prepare('UPDATE items SET name = ?, updated_at = ? WHERE id = ?').run('Erlenmeyer flask 500 ml', iso(Date.now() - DAY), FLASK);
  await a.agent.sync();
  await b.agent.sync();
  for (const path of [hub.dbPath, a.path, b.path]) {
    assert.equal((rowsOf(path, 'items')[0] as { name: string }).name, 'Erlenmeyer flask 500 ml', `${path} has A's later edit`);
  }
  assert.deepEqual(queryAll(hub.dbPath, "SELECT col, lost FROM _outpost_conflicts WHERE col = 'name'"), [], 'a later edit is no conflict: nothing lost, nothing to review');
});
