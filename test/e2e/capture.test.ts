import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, oimsDatabase, rowsOf, hubApp, queryAll, hubWithLabs, OIMS_CONFIG } from '../helpers/fixtures.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { buildCatalogue } from '../../src/hub/catalogue.ts';
import { retryQuarantined } from '../../src/hub/quarantine.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function installed(t: Parameters<typeof tempDir>[0]): Promise<{ path: string; db: SqliteAdapter; app: Database.Database; capture: () => { tbl: string; pk: string; op: string; cols: string | null }[] }> {
  const dir = tempDir(t);
  const path = oimsDatabase(join(dir, 'app.db'));
  const app = new Database(path);
  app.pragma('busy_timeout = 5000');
  const ins = app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)");
  for (let i = 1; i <= 3; i++) ins.run(ID(i), `existing ${i}`, i);
  const db = new SqliteAdapter(path);
  t.after(async () => {
    app.close();
    await db.close();
  });
  return { path, db, app, capture: () => app.prepare('SELECT tbl, pk, op, cols FROM _outpost_capture ORDER BY id').all() as never };
}

test('installing adds triggers and _outpost_* tables, leaves app columns alone, and captures existing rows once', async (t) => {
  const { db, app, capture } = await installed(t);
  const columnsBefore = app.prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('items')").all();
  const cat = buildCatalogue(loadHubConfig(OIMS_CONFIG), await db.introspect());
  await db.installBookkeeping('node');
  const items = cat.byName.get('items')!;
  assert.deepEqual(await db.installTriggers(items, 'capture'), { initialRows: 3 });
  assert.deepEqual(await db.installTriggers(items, 'capture'), { initialRows: 0 }, 'a second install does not capture again');
  assert.deepEqual(app.prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('items')").all(), columnsBefore);
  assert.deepEqual(capture().map((c) => [c.pk, c.op]), [1, 2, 3].map((n) => [JSON.stringify([ID(n)]), 'I']));
  const tables = (app.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_outpost%' ESCAPE '\\' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  assert.deepEqual(tables, ['_outpost_applying', '_outpost_capture', '_outpost_quarantine', '_outpost_repairs', '_outpost_rows', '_outpost_state']);
});

test('capture records inserts, updates of changed columns only, key changes and deletes; the agent\'s own writes are not captured', async (t) => {
  const { db, app, capture } = await installed(t);
  const cat = buildCatalogue(loadHubConfig(OIMS_CONFIG), await db.introspect());
  await db.installBookkeeping('node');
  await db.installTriggers(cat.byName.get('items')!, 'capture');
  app.exec('DELETE FROM _outpost_capture');

  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'new', 1)").run(ID(9));
  app.prepare('UPDATE items SET quantity = 5, name = name WHERE id = ?').run(ID(1)); // name unchanged
  app.prepare('UPDATE items SET quantity = quantity WHERE id = ?').run(ID(2)); // nothing changed
  app.prepare("UPDATE items SET notes = NULL, serial_number = 'S' WHERE id = ?").run(ID(2)); // NULL -> NULL is no change
  app.prepare('UPDATE items SET id = ? WHERE id = ?').run(ID(8), ID(3));
  app.prepare('DELETE FROM items WHERE id = ?').run(ID(9));
  assert.deepEqual(capture().map((c) => [c.pk, c.op, c.cols]), [
    [JSON.stringify([ID(9)]), 'I', null],
    [JSON.stringify([ID(1)]), 'U', 'quantity,'],
    [JSON.stringify([ID(2)]), 'U', 'serial_number,'],
    [JSON.stringify([ID(3)]), 'D', null],
    [JSON.stringify([ID(8)]), 'I', null],
    [JSON.stringify([ID(9)]), 'D', null],
  ]);

  const items = cat.byName.get('items')!;
  await db.write(async (tx) => {
    await tx.upsertRow(items, { id: ID(20), lab_id: 'lab-a', name: 'applied', quantity: 1, status: 'active', updated_at: 'x' });
    await tx.updateRow(items, [ID(1)], { quantity: 6 });
    await tx.deleteRow(items, [ID(2)]);
  });
  assert.equal(capture().length, 6, 'changes applied by the agent are not captured again');
  app.prepare('UPDATE items SET quantity = 7 WHERE id = ?').run(ID(20));
  assert.equal(capture().length, 7, 'the app\'s next write is captured again');
  // A failed agent transaction leaves capture working too.
  await assert.rejects(db.write(async () => { throw new Error('boom'); }), /boom/);
  app.prepare('UPDATE items SET quantity = 8 WHERE id = ?').run(ID(20));
  assert.equal(capture().length, 8);
});

test('only changed columns travel, and a local transaction reaches the hub in one hub transaction', async (t) => {
  const { hub, labs: [a] } = await hubWithLabs(t, ['lab-a']);
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'flask', 10, 'n')").run(ID(1));
  await a.agent.sync();
  a.app.prepare('UPDATE items SET quantity = 7 WHERE id = ?').run(ID(1));
  await a.agent.sync();
  const [last] = queryAll<{ op: string; cols: string }>(hub.dbPath, 'SELECT op, cols FROM _outpost_log ORDER BY seq DESC LIMIT 1');
  assert.equal(last!.op, 'U');
  assert.deepEqual(JSON.parse(last!.cols), { quantity: 7 });

  // The hub refuses the second row of a local transaction: that row is
  // quarantined with the database's error, the rest applied (issue 6: a
  // refused change never blocks the others), nothing is lost.
  const web = hubApp(hub);
  t.after(() => web.close());
  web.exec("CREATE TRIGGER no_big_moves BEFORE INSERT ON stock_movements WHEN NEW.delta > 100 BEGIN SELECT RAISE(ABORT, 'delta too large'); END");
  a.app.transaction(() => {
    a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'crate', 500)").run(ID(2));
    a.app.prepare("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES ('m1', ?, 'lab-a', 500, 'delivery')").run(ID(2));
  })();
  assert.equal((await a.agent.sync()).quarantined, 1);
  assert.equal(rowsOf(hub.dbPath, 'items').length, 2, 'the item of the transaction is applied');
  assert.equal(rowsOf(hub.dbPath, 'stock_movements').length, 0);
  assert.equal((await a.agent.status()).pending, 0, 'the hub acknowledged the group');
  const [entry] = await hub.hub.db.read((tx) => tx.listQuarantine({ status: 'open', limit: 10 }));
  assert.match(entry!.message, /delta too large/);
  web.exec('DROP TRIGGER no_big_moves');
  assert.equal((await retryQuarantined(hub.hub, entry!.id, 'test', Date.now())).applied, true);
  assert.equal(rowsOf(hub.dbPath, 'items').length, 2);
  assert.equal(rowsOf(hub.dbPath, 'stock_movements').length, 1);
});
