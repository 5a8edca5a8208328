import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { adapterConformance, type ConformanceFixture } from './adapter-suite.ts';
import { createServerDatabase, POSTGRES_ROOT, uniqueName, type ServerDatabase } from '../helpers/server-db.ts';
import { PostgresAdapter } from '../../src/adapters/postgres/postgres-adapter.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import type { TableSchema } from '../../src/protocol/index.ts';
import type { Adapter } from '../../src/adapters/adapter.ts';

const SCHEMA = `
  CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL);
  CREATE TABLE kinds (
    id BIGINT PRIMARY KEY, i INTEGER, big BIGINT, dec NUMERIC(12,2), f DOUBLE PRECISION, b BOOLEAN,
    d DATE, ts TIMESTAMPTZ(3), t TEXT, bin BYTEA, j JSON, u UUID,
    parent_id TEXT REFERENCES parent (id)
  );`;

async function fixture(t: TestContext): Promise<ConformanceFixture & { db: ServerDatabase }> {
  const db = await createServerDatabase(t, 'postgres');
  await db.exec(SCHEMA);
  const adapter = await PostgresAdapter.open(db.url, { mustExist: true });
  let closed = false;
  return {
    db,
    adapter,
    appExec: (sql) => db.exec(sql),
    async close() {
      if (closed) return;
      closed = true;
      // The adapter first: dropping the database ends its connections.
      await adapter.close();
      await db.close();
    },
  };
}

adapterConformance('postgres', fixture);

async function setup(t: TestContext, extra = ''): Promise<{ fx: Awaited<ReturnType<typeof fixture>>; tables: Map<string, TableSchema> }> {
  const fx = await fixture(t);
  t.after(() => fx.close());
  if (extra) await fx.db.exec(extra);
  const found = await fx.adapter.introspect();
  const tables = new Map(found.map((x) => [x.name, { ...x, direction: 'both' as const, policy: 'merge' as const }]));
  await fx.adapter.installBookkeeping('hub');
  for (const tb of tables.values()) await fx.adapter.installTriggers(tb, 'capture');
  return { fx, tables };
}

const captured = (fx: { adapter: Adapter }): Promise<[string, string, string, string[] | null][]> =>
  fx.adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 1000 })).then((rows) => rows.map((r) => [r.table, r.pk, r.op, r.cols]));

test('postgres: echo suppression does not leak after a failed agent write', async (t) => {
  const { fx, tables } = await setup(t);
  const parent = tables.get('parent')!;
  // A constraint failure and a thrown error, both rolled back on the writer connection.
  await assert.rejects(fx.adapter.write(async (tx) => {
    await tx.upsertRow(parent, { id: 'x', name: null });
  }), (e: { code?: string }) => e.code === 'APPLY_FAILED');
  await assert.rejects(fx.adapter.write(async (tx) => {
    await tx.upsertRow(parent, { id: 'y', name: 'y' });
    throw new Error('boom');
  }), /boom/);
  // Another connection: the app's write is captured.
  await fx.db.exec("INSERT INTO parent (id, name) VALUES ('app1', 'app')");
  // The writer connection again: the agent's write is not.
  await fx.adapter.write((tx) => tx.upsertRow(parent, { id: 'agent', name: 'agent' }));
  // The same connection outside Outpost's transaction (execScript runs on the writer): captured.
  await fx.adapter.execScript("INSERT INTO parent (id, name) VALUES ('script', 'captured')");
  assert.deepEqual(await captured(fx), [['parent', '["app1"]', 'I', null], ['parent', '["script"]', 'I', null]]);
});

test("postgres: after SET LOCAL ends, outpost.applying reads '' and the triggers capture again", async (t) => {
  const { fx } = await setup(t);
  const client = new pg.Client({ connectionString: fx.db.url });
  client.on('error', () => undefined);
  await client.connect();
  const read = async (): Promise<string | null> => (await client.query<{ v: string | null }>("SELECT current_setting('outpost.applying', true) AS v")).rows[0]!.v;
  assert.equal(await read(), null);
  await client.query('BEGIN');
  await client.query("SET LOCAL outpost.applying = 'on'");
  assert.equal(await read(), 'on');
  await client.query("INSERT INTO parent (id, name) VALUES ('suppressed', 'x')");
  await client.query('COMMIT');
  assert.equal(await read(), '');
  await client.query("INSERT INTO parent (id, name) VALUES ('after', 'x')");
  await client.end();
  assert.deepEqual(await captured(fx), [['parent', '["after"]', 'I', null]]);
});

test('postgres: a key change is a delete of the old key and an insert of the new; updates without changes write nothing', async (t) => {
  const { fx } = await setup(t, `
    CREATE TABLE multi (a INTEGER, b TEXT, v JSON, w NUMERIC(5,1), PRIMARY KEY (a, b));
    INSERT INTO multi VALUES (1, 'x', '{"k": 1}', 1.5);`);
  await fx.db.exec(`UPDATE multi SET v = '{"k": 1}' WHERE a = 1`);
  await fx.db.exec(`UPDATE multi SET v = '{"k":2}', w = 1.5 WHERE a = 1`);
  await fx.db.exec(`UPDATE multi SET a = 2 WHERE a = 1`);
  assert.deepEqual(await captured(fx), [
    ['multi', '[1,"x"]', 'I', null],
    ['multi', '[1,"x"]', 'U', ['v']],
    ['multi', '[1,"x"]', 'D', null],
    ['multi', '[2,"x"]', 'I', null],
  ]);
});

test('postgres: TIMESTAMP WITHOUT TIME ZONE is UTC, both ways; numeric and varchar details introspect', async (t) => {
  const { fx, tables } = await setup(t, `
    CREATE TABLE times (id UUID PRIMARY KEY, at TIMESTAMP(3), day DATE DEFAULT CURRENT_DATE, amount NUMERIC(8,3) NOT NULL DEFAULT 0, code VARCHAR(12) DEFAULT 'x', created TIMESTAMPTZ DEFAULT now(), n SERIAL);
    SET TIME ZONE 'America/New_York';`);
  const times = tables.get('times')!;
  const cols = Object.fromEntries(times.columns.map((c) => [c.name, c]));
  assert.deepEqual([cols.at!.kind, cols.at!.type], ['datetime', 'timestamp(3) without time zone']);
  assert.deepEqual([cols.amount!.precision, cols.amount!.scale, cols.amount!.default, cols.amount!.notNull], [8, 3, '0', true]);
  assert.deepEqual([cols.code!.precision, cols.code!.default], [12, "'x'"]);
  assert.deepEqual([cols.created!.default, cols.day!.default, cols.n!.default, cols.n!.kind], ['CURRENT_TIMESTAMP', 'CURRENT_DATE', null, 'integer']);
  const id = '0e6a4c3c-1111-4b2b-9c3c-aaaaaaaaaaaa';
  await fx.adapter.write((tx) => tx.upsertRow(times, { id: id.toUpperCase(), at: '2026-03-08T06:30:00.250Z', amount: '12.500' }));
  await fx.db.exec(`INSERT INTO times (id, at, amount) VALUES ('${id.replace('a', 'b')}', '2026-01-02 03:04:05.678', 1)`);
  const rows = await fx.adapter.read((tx) => tx.scanRows(times, null, 10));
  assert.deepEqual(rows.map((r) => [r.id, r.at, r.amount]), [
    [id, '2026-03-08T06:30:00.250Z', '12.500'],
    [id.replace('a', 'b'), '2026-01-02T03:04:05.678Z', '1.000'],
  ]);
  // The agent reads them by the key in another spelling.
  assert.equal((await fx.adapter.read((tx) => tx.getRows(times, [[id.toUpperCase()]]))).size, 1);
});

test('postgres: createTable from another dialect\'s schema, with deferrable foreign keys', async (t) => {
  const { fx } = await setup(t);
  const table: TableSchema = {
    name: 'provisioned', direction: 'both', policy: 'merge', primaryKey: ['id'],
    columns: [
      { name: 'id', type: 'INTEGER', kind: 'integer', notNull: true },
      { name: 'qty', type: 'int(11)', kind: 'integer', notNull: true, default: '0' },
      { name: 'price', type: 'decimal(10,2)', kind: 'decimal', notNull: false, precision: 10, scale: 2 },
      { name: 'name', type: 'varchar(40)', kind: 'text', notNull: false, default: "'none'" },
      { name: 'ok', type: 'tinyint(1)', kind: 'boolean', notNull: false, default: '1' },
      { name: 'at', type: 'DATETIME(3)', kind: 'datetime', notNull: false, default: 'CURRENT_TIMESTAMP(3)' },
      { name: 'doc', type: 'longtext', kind: 'json', notNull: false, default: null },
      { name: 'parent_id', type: 'TEXT', kind: 'text', notNull: false },
    ],
    foreignKeys: [{ columns: ['parent_id'], refTable: 'parent', refColumns: ['id'] }],
  };
  await fx.adapter.createTable(table);
  await fx.adapter.createTable(table);
  const back = (await fx.adapter.introspect()).find((x) => x.name === 'provisioned')!;
  assert.deepEqual(back.columns.map((c) => [c.name, c.type, c.notNull, c.default ?? null]), [
    ['id', 'bigint', true, null],
    ['qty', 'integer', true, '0'],
    ['price', 'numeric(10,2)', false, null],
    ['name', 'character varying(40)', false, "'none'"],
    ['ok', 'boolean', false, 'TRUE'],
    ['at', 'timestamp(3) with time zone', false, 'CURRENT_TIMESTAMP'],
    ['doc', 'json', false, null],
    ['parent_id', 'text', false, null],
  ]);
  assert.deepEqual(back.foreignKeys, table.foreignKeys);
  // A child before its parent in one transaction: checked at commit.
  const full = { ...table, columns: back.columns };
  await fx.adapter.write(async (tx) => {
    await tx.upsertRow(full, { id: 1, qty: 1, parent_id: 'later' });
    await tx.upsertRow((await fx.adapter.introspect().then((ts) => ts.find((x) => x.name === 'parent')))! as TableSchema, { id: 'later', name: 'p' });
  });
  // A missing parent fails at COMMIT, as APPLY_FAILED.
  await assert.rejects(fx.adapter.write((tx) => tx.upsertRow(full, { id: 2, qty: 1, parent_id: 'missing' })), (e: { code?: string }) => e.code === 'APPLY_FAILED');
});

test('postgres: readonly triggers refuse app writes but not the agent\'s; none removes them', async (t) => {
  const { fx, tables } = await setup(t);
  const parent = tables.get('parent')!;
  await fx.adapter.installTriggers(parent, 'readonly');
  await assert.rejects(fx.db.exec("INSERT INTO parent (id, name) VALUES ('a', 'a')"), /outpost: table parent is read-only on this node \(direction down\); its rows come from the hub/);
  await fx.adapter.write((tx) => tx.upsertRow(parent, { id: 'b', name: 'agent' }));
  await fx.adapter.installTriggers(parent, 'none');
  await fx.db.exec("INSERT INTO parent (id, name) VALUES ('c', 'c')");
  assert.deepEqual(await captured(fx), []);
  // Capture again: no second initial capture (the marker is there).
  assert.deepEqual(await fx.adapter.installTriggers(parent, 'capture'), { initialRows: 0 });
});

test('postgres: the first capture install records existing rows once; hub log ids and bookkeeping numbers', async (t) => {
  const fx = await fixture(t);
  t.after(() => fx.close());
  await fx.db.exec("INSERT INTO parent SELECT 'p' || g, 'n' FROM generate_series(1, 1000) g; INSERT INTO kinds (id, big) VALUES (9007199254740993, 1)");
  const tables = await fx.adapter.introspect();
  await fx.adapter.installBookkeeping('hub');
  await fx.adapter.installBookkeeping('hub');
  const parent = { ...tables.find((x) => x.name === 'parent')!, direction: 'both' as const, policy: 'merge' as const };
  const kinds = { ...tables.find((x) => x.name === 'kinds')!, direction: 'both' as const, policy: 'merge' as const };
  assert.deepEqual(await fx.adapter.installTriggers(parent, 'capture', { initialAtEpoch: true }), { initialRows: 1000 });
  assert.deepEqual(await fx.adapter.installTriggers(parent, 'capture'), { initialRows: 0 });
  assert.deepEqual(await fx.adapter.installTriggers(kinds, 'capture'), { initialRows: 1 });
  const rows = await fx.adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 2000 }));
  assert.equal(rows.length, 1001);
  assert.equal(rows[0]!.ts, 0);
  assert.equal(rows[1000]!.pk, '[{"$n":"9007199254740993"}]');
  const seqs = await fx.adapter.write(async (tx) => {
    const a = await tx.appendLog({ table: 'parent', pk: ['p1'], op: 'D', hlc: 'h1' }, 'n1');
    const b = await tx.appendLog({ table: 'parent', pk: ['p2'], op: 'D', hlc: 'h2' }, null);
    await tx.setCaptureStamp(rows[0]!.id, 'h', 1);
    return [a, b];
  });
  assert.deepEqual(seqs, [1, 2]);
  const r = await fx.adapter.read(async (tx) => ({
    max: await tx.maxLogSeq(),
    stats: await tx.captureStats(),
    log: await tx.readLog({ after: 0, limit: 10, excludeOrigin: 'n1', tables: ['parent'] }),
    has: await tx.hasLogAfter('parent', '["p1"]', 0, 'n2'),
  }));
  assert.deepEqual([r.max, r.stats, r.log.entries.map((e) => e.seq), r.log.head, r.has], [2, { count: 1001, maxSeq: 1 }, [2], 2, true]);
});

/** The indexes of _outpost_capture: name, and whether unique and partial. */
async function captureIndexes(db: ServerDatabase): Promise<string[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query<{ name: string; uniq: boolean; partial: boolean }>(
      "SELECT c.relname AS name, i.indisunique AS uniq, i.indpred IS NOT NULL AS partial FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '_outpost_capture'::regclass ORDER BY c.relname",
    );
    return r.rows.map((x) => `${x.name}${x.uniq ? ' unique' : ''}${x.partial ? ' partial' : ''}`);
  } finally {
    await c.end();
  }
}

test('postgres: an app write enters only the capture key index; seq is unique among stamped rows; an older capture table keeps its layout', async (t) => {
  const { fx } = await setup(t);
  await fx.adapter.installBookkeeping('hub');
  assert.deepEqual(await captureIndexes(fx.db), ['_outpost_capture_pkey unique', '_outpost_capture_seq unique partial']);
  await fx.db.exec("INSERT INTO parent VALUES ('a', 'x'), ('b', 'y')");
  const rows = await fx.adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 10 }));
  await fx.adapter.write((tx) => tx.setCaptureStamps([{ id: rows[0]!.id, hlc: 'h1', seq: 7 }]));
  await assert.rejects(fx.adapter.write((tx) => tx.setCaptureStamps([{ id: rows[1]!.id, hlc: 'h2', seq: 7 }])));
  assert.deepEqual((await fx.adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 10 }))).map((r) => r.pk), ['["b"]']);
  assert.deepEqual((await fx.adapter.read((tx) => tx.readCapture({ afterSeq: 0, limit: 10 }))).map((r) => [r.pk, r.seq]), [['["a"]', 7]]);

  // A database whose bookkeeping was installed before 2026-12.
  const old = await fixture(t);
  t.after(() => old.close());
  await old.db.exec(`CREATE TABLE _outpost_capture (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, cols TEXT, ts BIGINT NOT NULL, hlc TEXT, seq BIGINT UNIQUE);
    CREATE INDEX _outpost_capture_unstamped ON _outpost_capture (id) WHERE seq IS NULL`);
  await old.adapter.installBookkeeping('node');
  await old.adapter.installBookkeeping('node');
  assert.deepEqual(await captureIndexes(old.db), ['_outpost_capture_pkey unique', '_outpost_capture_seq_key unique', '_outpost_capture_unstamped partial']);
  const parent = { ...(await old.adapter.introspect()).find((x) => x.name === 'parent')!, direction: 'both' as const, policy: 'merge' as const };
  await old.adapter.installTriggers(parent, 'capture');
  await old.db.exec("INSERT INTO parent VALUES ('c', 'z')");
  const got = await old.adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 10 }));
  assert.deepEqual(got.map((r) => [r.pk, r.op]), [['["c"]', 'I']]);
});

test('postgres: URLs', async (t) => {
  await assert.rejects(openAdapter('postgres://127.0.0.1:5432'), (e: { code?: string; message: string }) => e.code === 'DB_URL_INVALID' && /names no database/.test(e.message));
  await assert.rejects(openAdapter('postgresql://u:secret@127.0.0.1:5432/'), (e: { code?: string; message: string }) => e.code === 'DB_URL_INVALID' && !e.message.includes('secret'));
  await assert.rejects(openAdapter('postgres://postgres@127.0.0.1:1/x'), (e: { code?: string }) => e.code === 'DB_UNREACHABLE');
  await assert.rejects(openAdapter('postgres://nosuchuser_outpost@127.0.0.1:5432/x'), (e: { code?: string }) => e.code === 'DB_UNREACHABLE' || e.code === 'DB_URL_INVALID');
  const name = uniqueName();
  await assert.rejects(openAdapter(`${POSTGRES_ROOT}/${name}`, { mustExist: true }), (e: { code?: string; message: string }) => e.code === 'DB_URL_INVALID' && e.message.includes(name));
  // Without mustExist the database is created.
  const a = await openAdapter(`${POSTGRES_ROOT.replace('postgres://', 'postgresql://')}/${name}`);
  t.after(async () => {
    const admin = new pg.Client({ connectionString: `${POSTGRES_ROOT}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });
  assert.equal(a.dialect, 'postgres');
  assert.equal(a.description, `postgres://127.0.0.1:5432/${name}`);
  await a.installBookkeeping('node');
  await a.close();
});

test('postgres: a deadlock with an app transaction is DB_BUSY and rolls the agent back', async (t) => {
  const { fx, tables } = await setup(t);
  const parent = tables.get('parent')!;
  await fx.db.exec("INSERT INTO parent (id, name) VALUES ('a', 'a'), ('b', 'b')");
  const app = new pg.Client({ connectionString: fx.db.url });
  app.on('error', () => undefined);
  await app.connect();
  // The agent's session (deadlock_timeout 1 s) runs the deadlock check first and is the victim.
  await app.query("SET deadlock_timeout = '20s'");
  await app.query('BEGIN');
  await app.query("UPDATE parent SET name = 'app' WHERE id = 'b'");
  let agentLocked!: () => void;
  const locked = new Promise<void>((r) => (agentLocked = r));
  const agent = fx.adapter.write(async (tx) => {
    await tx.updateRow(parent, ['a'], { name: 'agent' });
    agentLocked();
    await tx.updateRow(parent, ['b'], { name: 'agent' });
  });
  await locked;
  const appDone = app.query("UPDATE parent SET name = 'app' WHERE id = 'a'");
  await assert.rejects(agent, (e: { code?: string; status?: number }) => e.code === 'DB_BUSY' && e.status === 503);
  await appDone;
  await app.query('COMMIT');
  await app.end();
  const rows = await fx.adapter.read((tx) => tx.scanRows(parent, null, 10));
  assert.deepEqual(rows.map((r) => r.name), ['app', 'app']);
});
