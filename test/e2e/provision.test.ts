import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, startHub, joinNode, rowsOf, hubApp, oimsDatabase, queryAll, hubWithLabs } from '../helpers/fixtures.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import type { OutpostError } from '../../src/protocol/index.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function schemaOf(path: string, table: string): unknown {
  return {
    // SQLite lets a non-INTEGER key column hold NULL unless told; provisioned keys are NOT NULL.
    columns: queryAll(path, `SELECT name, type, CASE WHEN pk > 0 THEN 1 ELSE "notnull" END AS "notnull", pk FROM pragma_table_info('${table}')`),
    fks: queryAll(path, `SELECT "table", "from", "to" FROM pragma_foreign_key_list('${table}') ORDER BY "from"`),
  };
}

test('a lab joining with an empty database gets the synced tables created and filled from a snapshot', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const web = hubApp(hub);
  const ins = web.prepare("INSERT INTO items (id, lab_id, category_id, name, quantity, unit_price, notes) VALUES (?, 'lab-b', 'reagents', ?, ?, ?, ?)");
  web.transaction(() => { for (let i = 1; i <= 2500; i++) ins.run(ID(i), `reagent ${i}`, i, i / 4, i % 7 ? null : 'ñ 🧪'); })();
  web.prepare("UPDATE items SET notes = 'edited after insert' WHERE id = ?").run(ID(5));
  web.close();
  const a = await joinNode(hub, dir, 'lab-a', { pageSize: 400 });
  t.after(() => a.close());
  for (const table of ['labs', 'categories', 'items', 'stock_movements']) {
    assert.deepEqual(schemaOf(a.path, table), schemaOf(hub.dbPath, table), `${table} was created with the hub's columns, types, keys and foreign keys`);
  }
  for (const table of ['labs', 'categories', 'items']) assert.deepEqual(rowsOf(a.path, table), rowsOf(hub.dbPath, table));
  // Defaults came along: the lab app can insert without naming status or updated_at.
  a.app.prepare("INSERT INTO items (id, lab_id, name) VALUES (?, 'lab-a', 'defaults')").run(ID(9999));
  const row = a.app.prepare('SELECT status, quantity, updated_at FROM items WHERE id = ?').get(ID(9999)) as { status: string; quantity: number; updated_at: string };
  assert.equal(row.status, 'active');
  assert.equal(row.quantity, 0);
  assert.match(row.updated_at, /^\d{4}-\d\d-\d\dT/);
  // The snapshot's stamps came along too: an older edit elsewhere does not beat the hub's.
  assert.equal((await a.agent.status()).snapshot, 'done');
});

test('a lab that already has data keeps it: its rows go up, the hub\'s come down, and where both had a row the hub\'s wins with the lab\'s logged', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const web = hubApp(hub);
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'at the hub', 1)").run(ID(1));
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'hub version', 1)").run(ID(2));
  web.close();
  await hub.hub.sequencePending(); // the hub's rows are stamped before the lab ever talks to it
  const path = oimsDatabase(join(dir, 'lab-a.db'));
  const app = new Database(path);
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'in the lab before joining', 4)").run(ID(3));
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'lab version, newer', 2)").run(ID(2));
  app.close();
  const { code } = await addNode(hub.hub.db, 'lab-a');
  const db = new SqliteAdapter(path);
  t.after(() => db.close());
  const { agent, summary } = await NodeAgent.join(db, hub.url, code);
  assert.equal(summary.pushed, 2, 'the rows the lab had are pushed as its initial state');
  await agent.sync();
  const hubItems = rowsOf(hub.dbPath, 'items') as { id: string; name: string }[];
  assert.deepEqual(hubItems.map((r) => r.name), ['at the hub', 'hub version', 'in the lab before joining']);
  assert.deepEqual(rowsOf(path, 'items'), hubItems);
  // Where both had the row, the hub's version wins and the lab's values are kept in the conflict log.
  const lost = queryAll<{ col: string; lost: string }>(hub.dbPath, 'SELECT col, lost FROM _outpost_conflicts WHERE pk = ? ORDER BY col', JSON.stringify([ID(2)]));
  assert.deepEqual(lost.filter((c) => c.col === 'name' || c.col === 'lab_id' || c.col === 'quantity').map((c) => [c.col, JSON.parse(c.lost)]), [['lab_id', 'lab-a'], ['name', 'lab version, newer'], ['quantity', 2]]);
});

test('a snapshot that breaks off is taken again, and a row deleted meanwhile does not linger', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'lab-a.db');
  let cut = 1;
  const hub = await startHub(dir, {
    setup: (app) =>
      app.addHook('onSend', async (req, _reply, payload) => {
        if (req.url !== '/v1/snapshot' || cut-- <= 0) return payload;
        // Let everything up to the first 1,000 items through; hold the next
        // chunk (so the stream never ends cleanly) until the lab has applied
        // those, then cut the connection.
        let itemPages = 0;
        const { Transform } = await import('node:stream');
        return (payload as NodeJS.ReadableStream).pipe(new Transform({
          transform(chunk: Buffer, _enc, done) {
            if (chunk.includes('"table":"items"') && ++itemPages > 1) {
              void (async () => {
                for (let i = 0; i < 1000 && queryAll(path, 'SELECT 1 FROM items').length < 1000; i++) await new Promise((r) => setTimeout(r, 10));
                req.raw.socket.destroy();
                done();
              })();
              return;
            }
            done(null, chunk);
          },
        }));
      }),
  });
  t.after(() => hub.close());
  const web = hubApp(hub);
  t.after(() => web.close());
  const ins = web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-b', ?, ?)");
  web.transaction(() => { for (let i = 1; i <= 1500; i++) ins.run(ID(i), `item ${i}`, i); })();
  const { code } = await addNode(hub.hub.db, 'lab-a');
  const db = new SqliteAdapter(path);
  t.after(() => db.close());
  await assert.rejects(NodeAgent.join(db, hub.url, code, { pageSize: 100 }), (e: OutpostError) => e.code === 'HUB_UNREACHABLE');
  const partial = rowsOf(path, 'items').length;
  assert.ok(partial > 0 && partial < 1500, `the first snapshot broke off after ${partial} rows`);
  web.prepare('DELETE FROM items WHERE id = ?').run(ID(1));
  // The lab works on while the snapshot is incomplete; that write must not be lost.
  const app = new Database(path);
  app.pragma('busy_timeout = 5000');
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'written between the tries', 1)").run(ID(5000));
  app.close();
  const agent = await NodeAgent.open(db, { pageSize: 100 });
  const s = await agent.sync();
  assert.equal(s.pushed, 1);
  assert.equal(s.snapshotRows, 1500 + 7, '1,499 hub items, the lab\'s new one, and the 7 labs and categories');
  assert.deepEqual(rowsOf(path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.equal(rowsOf(hub.dbPath, 'items').length, 1500);
  assert.equal((await agent.status()).pending, 0);
});

test('a local table that lacks a column the hub has is refused with a clear error', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const path = join(dir, 'lab-a.db');
  const raw = new Database(path);
  raw.exec('CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)');
  raw.close();
  const { code } = await addNode(hub.hub.db, 'lab-a');
  const db = new SqliteAdapter(path);
  t.after(() => db.close());
  await assert.rejects(NodeAgent.join(db, hub.url, code), (e: OutpostError) => e.code === 'SCHEMA_INVALID' && /local table items lacks column\(s\) lab_id/.test(e.message));
});

test('a node whose schema version differs is told so plainly and keeps its local changes', async (t) => {
  const { hub, labs: [a] } = await hubWithLabs(t, ['lab-a']);
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'kept', 1)").run(ID(1));
  // The node was provisioned from a schema with a column the hub no longer has.
  const tables = hub.hub.catalogue.tables.map((x) => (x.name === 'items' ? { ...x, columns: [...x.columns, { name: 'legacy', type: 'TEXT', kind: 'text' as const, notNull: false }] } : x));
  await a.db.write(async (tx) => {
    await tx.setState('schema_version', '0000000000000000');
    await tx.setState('tables', JSON.stringify(tables));
  });
  await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'SCHEMA_MISMATCH' && /local changes are kept/.test(e.message) && /items: columns were changed/.test(e.message));
  assert.equal((await a.agent.status()).pending, 1);
  assert.match((await a.agent.status()).lastError ?? '', /schema/);
  assert.equal(rowsOf(hub.dbPath, 'items').length, 0);
  // Once the schemas agree again, sync resumes with nothing lost.
  await a.db.write(async (tx) => {
    await tx.setState('schema_version', hub.hub.catalogue.version);
    await tx.setState('tables', JSON.stringify(hub.hub.catalogue.tables));
  });
  await a.agent.sync();
  assert.equal(rowsOf(hub.dbPath, 'items').length, 1);
});

test('a node that speaks another protocol version gets 426 PROTOCOL_MISMATCH', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const { code } = await addNode(hub.hub.db, 'old-lab');
  const { HubClient } = await import('../../src/node/hub-client.ts');
  const { token } = await new HubClient(hub.url).join(code);
  const res = await fetch(`${hub.url}/v1/handshake`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ protocol: 99, schemaVersion: null }) });
  assert.equal(res.status, 426);
  const body = (await res.json()) as { code: string; hubProtocol: number };
  assert.equal(body.code, 'PROTOCOL_MISMATCH');
  assert.equal(body.hubProtocol, 1);
});
