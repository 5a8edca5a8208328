import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterConformance } from './adapter-suite.ts';
import { createServerDatabase, MYSQL_ROOT, uniqueName } from '../helpers/server-db.ts';
import { MysqlAdapter } from '../../src/adapters/mysql/mysql-adapter.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import type { TableSchema } from '../../src/protocol/index.ts';

const SCHEMA = `
  CREATE TABLE parent (id VARCHAR(64) PRIMARY KEY NOT NULL, name TEXT NOT NULL);
  CREATE TABLE kinds (
    id BIGINT PRIMARY KEY, i INTEGER, big BIGINT, \`dec\` DECIMAL(12,2), f DOUBLE, b BOOLEAN,
    d DATE, ts DATETIME(3), t TEXT, bin BLOB, j JSON, u UUID,
    parent_id VARCHAR(64),
    FOREIGN KEY (parent_id) REFERENCES parent (id)
  );`;

adapterConformance('mysql', async (t) => {
  const db = await createServerDatabase(t, 'mysql');
  await db.exec(SCHEMA);
  const adapter = await MysqlAdapter.open(db.url, { mustExist: true });
  return {
    adapter,
    appExec: (sql) => db.exec(sql),
    async close() {
      await adapter.close();
      await db.close();
    },
  };
});

async function setup(t: import('node:test').TestContext) {
  const db = await createServerDatabase(t, 'mysql');
  await db.exec(SCHEMA);
  const adapter = await MysqlAdapter.open(db.url, { mustExist: true });
  t.after(() => adapter.close());
  const tables = new Map<string, TableSchema>((await adapter.introspect()).map((x) => [x.name, { ...x, direction: 'both' as const, policy: 'merge' as const }]));
  await adapter.installBookkeeping('node');
  for (const tb of tables.values()) await adapter.installTriggers(tb, 'capture');
  return { db, adapter, tables };
}

test('mysql: @outpost_applying never leaks after a failed write: an app-like write on the same adapter is captured', async (t) => {
  const { adapter, tables } = await setup(t);
  const parent = tables.get('parent')!;
  // A constraint failure and an exception thrown by the caller.
  await assert.rejects(adapter.write(async (tx) => { await tx.upsertRow(parent, { id: 'x', name: null }); }), (e: { code?: string }) => e.code === 'APPLY_FAILED');
  await assert.rejects(adapter.write(async () => { throw new Error('boom'); }), /boom/);
  // execScript runs on a connection of its own, as the app would; and the writer's next session must be clean too.
  await adapter.execScript("INSERT INTO parent (id, name) VALUES ('app1', 'app')");
  await adapter.write(async (tx) => tx.upsertRow(parent, { id: 'agent', name: 'agent' }));
  const rows = await adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 100 }));
  assert.deepEqual(rows.map((r) => [r.pk, r.op]), [['["app1"]', 'I']]);
});

test('mysql: 4-byte emoji and case-only changes round-trip and are captured on a utf8mb4 table', async (t) => {
  const { db, adapter, tables } = await setup(t);
  const parent = tables.get('parent')!;
  const name = 'emoji 🧪😀 𝔘 — done';
  await adapter.write((tx) => tx.upsertRow(parent, { id: '🧪', name }));
  const back = await adapter.read((tx) => tx.getRows(parent, [['🧪']]));
  assert.deepEqual(back.get('["🧪"]'), { id: '🧪', name });
  await db.exec("UPDATE parent SET name = 'ABC 😀' WHERE id = '🧪'");
  await db.exec("UPDATE parent SET name = 'abc 😀' WHERE id = '🧪'");
  const cap = await adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 100 }));
  assert.deepEqual(cap.map((r) => [r.pk, r.op, r.cols]), [['["🧪"]', 'U', ['name']], ['["🧪"]', 'U', ['name']]]);
});

test('mysql: capture timestamps are UTC milliseconds; the initial capture records existing rows once', async (t) => {
  const db = await createServerDatabase(t, 'mysql');
  await db.exec(SCHEMA);
  await db.exec("SET time_zone = '+05:00'; INSERT INTO parent (id, name) VALUES ('a', 'x'), ('b', 'y')");
  const adapter = await MysqlAdapter.open(db.url, { mustExist: true });
  t.after(() => adapter.close());
  const parent = { ...(await adapter.introspect()).find((x) => x.name === 'parent')!, direction: 'both' as const, policy: 'merge' as const };
  await adapter.installBookkeeping('node');
  assert.deepEqual(await adapter.installTriggers(parent, 'capture'), { initialRows: 2 });
  assert.deepEqual(await adapter.installTriggers(parent, 'capture'), { initialRows: 0 });
  const before = Date.now();
  await db.exec("INSERT INTO parent (id, name) VALUES ('c', 'z')");
  const rows = await adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 100 }));
  assert.deepEqual(rows.map((r) => r.pk), ['["a"]', '["b"]', '["c"]']);
  assert.ok(Math.abs(rows[2]!.ts - before) < 5000, `ts ${rows[2]!.ts} near ${before}`);
  // read-only mode refuses app writes with a clear message, but not the agent's
  await adapter.installTriggers(parent, 'readonly');
  await assert.rejects(db.exec("INSERT INTO parent (id, name) VALUES ('d', 'no')"), /read-only on this node/);
  await adapter.write((tx) => tx.upsertRow(parent, { id: 'd', name: 'agent' }));
  await adapter.installTriggers(parent, 'none');
  await db.exec("INSERT INTO parent (id, name) VALUES ('e', 'free')");
});

test('mysql: createTable provisions a table from another dialect\'s schema, and introspection reads it back', async (t) => {
  const db = await createServerDatabase(t, 'mysql');
  const adapter = await MysqlAdapter.open(db.url, { mustExist: true });
  t.after(() => adapter.close());
  const items: TableSchema = {
    name: 'items', direction: 'both', policy: 'merge', primaryKey: ['id'], foreignKeys: [],
    columns: [
      { name: 'id', type: 'uuid', kind: 'uuid', notNull: true },
      { name: 'qty', type: 'integer', kind: 'integer', notNull: true, default: '0' },
      { name: 'price', type: 'numeric(10,3)', kind: 'decimal', notNull: false, precision: 10, scale: 3 },
      { name: 'label', type: 'character varying(40)', kind: 'text', notNull: false, default: "'none'::character varying", precision: 40 },
      { name: 'at', type: 'timestamp with time zone', kind: 'datetime', notNull: false, default: 'now()' },
      { name: 'ok', type: 'boolean', kind: 'boolean', notNull: false, default: 'true' },
      { name: 'doc', type: 'jsonb', kind: 'json', notNull: false },
    ],
  };
  await adapter.createTable(items);
  const [found] = await adapter.introspect();
  assert.deepEqual(found!.columns.map((c) => [c.name, c.kind, c.notNull, c.default ?? null]), [
    ['id', 'uuid', true, null], ['qty', 'integer', true, '0'], ['price', 'decimal', false, null], ['label', 'text', false, "'none'"],
    ['at', 'datetime', false, 'CURRENT_TIMESTAMP'], ['ok', 'boolean', false, '1'], ['doc', 'json', false, null],
  ]);
  assert.deepEqual(found!.columns.find((c) => c.name === 'price'), { name: 'price', type: 'decimal(10,3)', kind: 'decimal', notNull: false, default: null, precision: 10, scale: 3 });
});

test('mysql: URL errors are clear', async () => {
  await assert.rejects(openAdapter('mysql://root@127.0.0.1:3306'), (e: { code?: string; message: string }) => e.code === 'DB_URL_INVALID' && /names no database/.test(e.message));
  await assert.rejects(openAdapter('mariadb://root@127.0.0.1:3306/'), (e: { code?: string }) => e.code === 'DB_URL_INVALID');
  await assert.rejects(openAdapter('mysql://root@127.0.0.1:1/outpost_x'), (e: { code?: string }) => e.code === 'DB_UNREACHABLE');
  await assert.rejects(openAdapter('mysql://nobody:wrong@127.0.0.1:3306/outpost_x'), (e: { code?: string; message: string }) => e.code === 'DB_UNREACHABLE' && /access refused/.test(e.message) && !/wrong/.test(e.message));
  const name = uniqueName();
  await assert.rejects(openAdapter(`${MYSQL_ROOT}/${name}`, { mustExist: true }), (e: { code?: string; message: string }) => e.code === 'DB_URL_INVALID' && /no database/.test(e.message));
});

test('mysql: open creates a missing database, over a mariadb:// URL too', async (t) => {
  const name = uniqueName();
  const url = `${MYSQL_ROOT.replace(/^mysql:/, 'mariadb:')}/${name}`;
  const adapter = await openAdapter(url);
  t.after(async () => {
    await adapter.close();
    const cleanup = await createServerDatabase(null, 'mysql', `${name}_x`);
    await cleanup.exec(`DROP DATABASE IF EXISTS \`${name}\``);
    await cleanup.close();
  });
  assert.equal(adapter.dialect, 'mysql');
  assert.equal(adapter.description, `${url}`.replace(/\/\/[^@/]*:[^@/]*@/, '//root@'));
  await adapter.installBookkeeping('hub');
  await adapter.installBookkeeping('hub');
  assert.deepEqual(await adapter.introspect(), []);
});

test('mysql: composite keys: a key change is a delete and an insert, scanRows pages in key order; checkForeignKeys: false', async (t) => {
  const db = await createServerDatabase(t, 'mysql');
  await db.exec(`${SCHEMA}
    CREATE TABLE pair (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT, PRIMARY KEY (a, b));`);
  const adapter = await MysqlAdapter.open(db.url, { mustExist: true });
  t.after(() => adapter.close());
  const tables = new Map<string, TableSchema>((await adapter.introspect()).map((x) => [x.name, { ...x, direction: 'both' as const, policy: 'merge' as const }]));
  await adapter.installBookkeeping('node');
  const pair = tables.get('pair')!;
  await adapter.installTriggers(pair, 'capture');
  await db.exec("INSERT INTO pair VALUES (1, 'x', 1); UPDATE pair SET b = 'y' WHERE a = 1; UPDATE pair SET v = 2 WHERE a = 1; UPDATE pair SET v = 2 WHERE a = 1");
  const cap = await adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 100 }));
  assert.deepEqual(cap.map((r) => [r.pk, r.op, r.cols]), [['[1,"x"]', 'I', null], ['[1,"x"]', 'D', null], ['[1,"y"]', 'I', null], ['[1,"y"]', 'U', ['v']]]);
  await adapter.write(async (tx) => { for (let a = 0; a < 4; a++) for (const b of ['a', 'b']) await tx.upsertRow(pair, { a, b, v: a }); });
  const page = await adapter.read((tx) => tx.scanRows(pair, [1, 'b'], 3));
  assert.deepEqual(page.map((r) => [r.a, r.b]), [[1, 'y'], [2, 'a'], [2, 'b']]);
  // A snapshot may write children before their parents.
  const kinds = tables.get('kinds')!;
  await adapter.write((tx) => tx.upsertRow(kinds, { id: 1, parent_id: 'later' }), { checkForeignKeys: false });
  await assert.rejects(adapter.write((tx) => tx.upsertRow(kinds, { id: 2, parent_id: 'missing' })), (e: { code?: string }) => e.code === 'APPLY_FAILED');
});
