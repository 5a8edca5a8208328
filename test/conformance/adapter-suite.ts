import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { HlcClock, pkKey, type Change, type TableSchema, type WireValue } from '../../src/protocol/index.ts';
import { BucketSums, applyChanges, keyBucket, rowDigest, rowKey, stampCaptured, tableSums } from '../../src/engine/index.ts';
import type { Adapter } from '../../src/adapters/adapter.ts';

/** What the suite needs of a dialect: a fresh database with two tables, an adapter on it, and the app's own connection. */
export interface ConformanceFixture {
  adapter: Adapter;
  /** run SQL as the application would, on its own connection, committed at once */
  appExec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Tables the fixture creates: `parent (id TEXT PK, name TEXT NOT NULL)` and
 * `kinds` with one column per type family and a BIGINT key:
 *   id BIGINT PK, i INTEGER, big BIGINT, dec DECIMAL(12,2), f REAL/DOUBLE, b BOOLEAN,
 *   d DATE, ts DATETIME(3)/TIMESTAMPTZ, t TEXT, bin BLOB/BYTEA, j JSON, u UUID,
 *   parent_id TEXT REFERENCES parent(id)
 */
export type FixtureFactory = (t: TestContext) => Promise<ConformanceFixture>;

const KINDS_EXPECTED: Record<string, string> = {
  id: 'integer', i: 'integer', big: 'integer', dec: 'decimal', f: 'real', b: 'boolean', d: 'date', ts: 'datetime', t: 'text', bin: 'blob', j: 'json', u: 'uuid', parent_id: 'text',
};

/** Values that must come back exactly as written, in wire form. */
export const ROUND_TRIP: Record<string, WireValue>[] = [
  { id: 1, i: -42, big: { $n: '9007199254740993' }, dec: '1234567.89', f: 0.1, b: true, d: '2026-11-21', ts: '2026-11-21T23:27:46.123Z', t: 'Erlenmeyer ⚗️ 🧪 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢', bin: { $b: Buffer.from([0, 1, 2, 255, 254]).toString('base64') }, j: '{"a":[1,2,{"b":null}]}', u: '5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f', parent_id: 'p1' },
  { id: { $n: '-9223372036854775808' }, i: 0, big: { $n: '9223372036854775807' }, dec: '-0.01', f: -1.5e300, b: false, d: '1970-01-01', ts: '1999-12-31T23:59:59.999Z', t: '', bin: { $b: '' }, j: '[]', u: '00000000-0000-0000-0000-000000000000', parent_id: null },
  { id: 3, i: null, big: null, dec: null, f: null, b: null, d: null, ts: null, t: null, bin: null, j: null, u: null, parent_id: null },
];

export function adapterConformance(dialect: string, make: FixtureFactory): void {
  const setup = async (t: TestContext): Promise<{ fx: ConformanceFixture; tables: Map<string, TableSchema> }> => {
    const fx = await make(t);
    t.after(() => fx.close());
    const found = await fx.adapter.introspect();
    const tables = new Map(found.map((x) => [x.name, { ...x, direction: 'both' as const, policy: 'merge' as const }]));
    await fx.adapter.installBookkeeping('node');
    for (const tb of tables.values()) await fx.adapter.installTriggers(tb, 'capture');
    return { fx, tables };
  };
  const capture = (a: Adapter): Promise<{ table: string; pk: string; op: string; cols: string[] | null }[]> =>
    a.read((tx) => tx.readCapture({ unstamped: true, limit: 1000 })).then((rows) => rows.map((r) => ({ table: r.table, pk: r.pk, op: r.op, cols: r.cols })));

  test(`${dialect}: introspection finds columns, kinds, keys and foreign keys`, async (t) => {
    const { tables } = await setup(t);
    const kinds = tables.get('kinds')!;
    assert.deepEqual(Object.fromEntries(kinds.columns.map((c) => [c.name, c.kind])), KINDS_EXPECTED);
    assert.deepEqual(kinds.primaryKey, ['id']);
    assert.deepEqual(kinds.foreignKeys, [{ columns: ['parent_id'], refTable: 'parent', refColumns: ['id'] }]);
    assert.deepEqual(tables.get('parent')!.columns.map((c) => [c.name, c.notNull]), [['id', true], ['name', true]]);
    assert.ok(![...tables.keys()].some((n) => n.startsWith('_outpost')), 'bookkeeping tables are never listed');
  });

  test(`${dialect}: capture of insert, update (changed columns only) and delete`, async (t) => {
    const { fx } = await setup(t);
    await fx.appExec("INSERT INTO parent (id, name) VALUES ('p1', 'one')");
    await fx.appExec("UPDATE parent SET name = 'uno' WHERE id = 'p1'");
    await fx.appExec("UPDATE parent SET name = 'uno' WHERE id = 'p1'");
    await fx.appExec("INSERT INTO kinds (id, i, t) VALUES (10, 1, 'x')");
    await fx.appExec('UPDATE kinds SET i = 2, t = t WHERE id = 10');
    await fx.appExec('UPDATE kinds SET i = NULL WHERE id = 10');
    await fx.appExec('UPDATE kinds SET i = NULL WHERE id = 10');
    await fx.appExec("DELETE FROM parent WHERE id = 'p1'");
    assert.deepEqual(await capture(fx.adapter), [
      { table: 'parent', pk: '["p1"]', op: 'I', cols: null },
      { table: 'parent', pk: '["p1"]', op: 'U', cols: ['name'] },
      { table: 'kinds', pk: '[10]', op: 'I', cols: null },
      { table: 'kinds', pk: '[10]', op: 'U', cols: ['i'] },
      { table: 'kinds', pk: '[10]', op: 'U', cols: ['i'] },
      { table: 'parent', pk: '["p1"]', op: 'D', cols: null },
    ]);
  });

  test(`${dialect}: echo suppression: the agent's writes are not captured, the app's are, also after a failed agent transaction`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await fx.adapter.write(async (tx) => {
      await tx.upsertRow(parent, { id: 'a', name: 'agent' });
      await tx.updateRow(parent, ['a'], { name: 'agent 2' });
    });
    assert.deepEqual(await capture(fx.adapter), []);
    await assert.rejects(fx.adapter.write(async (tx) => {
      await tx.upsertRow(parent, { id: 'b', name: 'rolled back' });
      throw new Error('boom');
    }), /boom/);
    await fx.appExec("INSERT INTO parent (id, name) VALUES ('c', 'app')");
    await fx.appExec("DELETE FROM parent WHERE id = 'a'");
    assert.deepEqual((await capture(fx.adapter)).map((c) => [c.pk, c.op]), [['["c"]', 'I'], ['["a"]', 'D']]);
  });

  test(`${dialect}: a write transaction is all or nothing, bookkeeping included`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await assert.rejects(fx.adapter.write(async (tx) => {
      await tx.upsertRow(parent, { id: 'x', name: 'x' });
      await tx.setState('cursor', '99');
      await tx.putMeta('parent', '["x"]', { exists: true, hlc: new HlcClock('n').tick(), colHlc: {} });
      throw new Error('crash');
    }));
    const after = await fx.adapter.read(async (tx) => ({ rows: await tx.getRows(parent, [['x']]), cursor: await tx.getState('cursor'), meta: await tx.getMeta('parent', ['["x"]']) }));
    assert.deepEqual([after.rows.size, after.cursor, after.meta.size], [0, null, 0]);
  });

  test(`${dialect}: a constraint failure is APPLY_FAILED and changes nothing`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await assert.rejects(fx.adapter.write(async (tx) => {
      await tx.upsertRow(parent, { id: 'ok', name: 'fine' });
      await tx.upsertRow(parent, { id: 'bad', name: null });
    }), (e: { code?: string }) => e.code === 'APPLY_FAILED');
    assert.equal((await fx.adapter.read((tx) => tx.getRows(parent, [['ok']]))).size, 0);
  });

  test(`${dialect}: an upsert of a new row that clashes with a different row on another unique index fails (APPLY_FAILED) and never touches that row`, async (t) => {
    const { fx, tables } = await setup(t);
    const kinds = tables.get('kinds')!;
    await fx.appExec('CREATE UNIQUE INDEX kinds_i_unique ON kinds (i)');
    await fx.adapter.write((tx) => tx.upsertRows(kinds, [{ id: 1, i: 5, t: 'first' }]));
    for (const rows of [[{ id: 2, i: 5, t: 'clash' }], [{ id: 3, i: 6, t: 'fine' }, { id: 2, i: 5, t: 'clash' }]]) {
      await assert.rejects(fx.adapter.write((tx) => tx.upsertRows(kinds, rows)), (e: { code?: string }) => e.code === 'APPLY_FAILED');
    }
    // An upsert of the row with its own key still updates it in place.
    await fx.adapter.write((tx) => tx.upsertRows(kinds, [{ id: 1, i: 5, t: 'again' }]));
    const rows = await fx.adapter.read((tx) => tx.scanRows(kinds, null, 10));
    assert.deepEqual(rows.map((r) => [r.id, r.i, r.t]), [[1, 5, 'again']]);
  });

  test(`${dialect}: a savepoint rolls back only its own part when the database refuses a change, and the transaction commits the rest`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    const kinds = tables.get('kinds')!;
    const caught: string[] = [];
    const inner = await fx.adapter.write(async (tx) => {
      await tx.upsertRow(parent, { id: 'before', name: 'kept' });
      // NOT NULL broken inside: only the savepoint's writes go.
      await tx.savepoint(async () => {
        await tx.upsertRow(parent, { id: 'sp1', name: 'gone' });
        await tx.upsertRow(parent, { id: 'sp1-bad', name: null });
      }).catch((e: { code?: string }) => caught.push(e.code ?? '?'));
      // A foreign key broken inside (a child of a missing parent): refused inside, not at commit.
      await tx.savepoint(() => tx.upsertRow(kinds, { id: 90, parent_id: 'no-such-parent' })).catch((e: { code?: string }) => caught.push(e.code ?? '?'));
      // Nested: the inner one fails, the outer one keeps its own writes.
      await tx.savepoint(async () => {
        await tx.upsertRow(parent, { id: 'outer', name: 'kept' });
        await tx.savepoint(() => tx.upsertRow(parent, { id: 'inner', name: null })).catch((e: { code?: string }) => caught.push(e.code ?? '?'));
      });
      // A savepoint that succeeds keeps its writes, and returns fn's value.
      const v = await tx.savepoint(async () => {
        await tx.upsertRow(kinds, { id: 91, parent_id: 'before' });
        return 'value';
      });
      await tx.putMeta('parent', '["before"]', { exists: true, hlc: new HlcClock('n').tick(), colHlc: {} });
      return v;
    });
    assert.equal(inner, 'value');
    assert.deepEqual(caught, ['APPLY_FAILED', 'APPLY_FAILED', 'APPLY_FAILED']);
    const rows = await fx.adapter.read(async (tx) => ({ parent: await tx.scanRows(parent, null, 100), kinds: await tx.scanRows(kinds, null, 100), meta: await tx.getMeta('parent', ['["before"]']) }));
    assert.deepEqual(rows.parent.map((r) => r.id).sort(), ['before', 'outer']);
    assert.deepEqual(rows.kinds.map((r) => [r.id, r.parent_id]), [[91, 'before']]);
    assert.equal(rows.meta.size, 1);
    assert.deepEqual(await capture(fx.adapter), [], 'writes in savepoints are the agent\'s, not captured');
  });

  test(`${dialect}: a savepoint checks a foreign key the transaction defers (a table Outpost created) inside it; outside one it is checked at commit`, async (t) => {
    const { fx, tables } = await setup(t);
    void tables;
    const parent: TableSchema = {
      name: 'sp_parent', direction: 'both', policy: 'merge', primaryKey: ['id'], foreignKeys: [],
      columns: [{ name: 'id', type: 'VARCHAR(64)', kind: 'text', notNull: true, precision: 64 }, { name: 'name', type: 'TEXT', kind: 'text', notNull: false }],
    };
    const child: TableSchema = {
      name: 'sp_child', direction: 'both', policy: 'merge', primaryKey: ['id'],
      columns: [{ name: 'id', type: 'INTEGER', kind: 'integer', notNull: true }, { name: 'parent_id', type: 'VARCHAR(64)', kind: 'text', notNull: false, precision: 64 }],
      foreignKeys: [{ columns: ['parent_id'], refTable: 'sp_parent', refColumns: ['id'] }],
    };
    await fx.adapter.createTable(parent);
    await fx.adapter.createTable(child);
    let code = '';
    await fx.adapter.write(async (tx) => {
      await tx.savepoint(() => tx.upsertRow(child, { id: 1, parent_id: 'missing' })).catch((e: { code?: string }) => (code = e.code ?? '?'));
      // The transaction's own deferral is back after the savepoint: a child before its parent is fine at commit (SQLite and MariaDB check every statement).
      if (fx.adapter.caps.deferrableForeignKeys) {
        await tx.upsertRow(child, { id: 2, parent_id: 'late' });
        await tx.upsertRow(parent, { id: 'late', name: 'parent after child' });
      } else {
        await tx.upsertRow(parent, { id: 'late', name: 'parent after child' });
        await tx.upsertRow(child, { id: 2, parent_id: 'late' });
      }
    });
    assert.equal(code, 'APPLY_FAILED');
    assert.deepEqual((await fx.adapter.read((tx) => tx.scanRows(child, null, 10))).map((r) => r.id), [2]);
  });

  test(`${dialect}: a failure other than a constraint inside a savepoint fails the whole transaction`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await assert.rejects(fx.adapter.write(async (tx) => {
      await tx.upsertRow(parent, { id: 'a', name: 'one' });
      await tx.savepoint(async () => {
        await tx.upsertRow(parent, { id: 'b', name: 'two' });
        throw new Error('not a constraint');
      }).catch((e: Error) => {
        if (e.message !== 'not a constraint') throw e;
        throw new Error('rethrown as it was');
      });
    }), /rethrown as it was/);
    assert.equal((await fx.adapter.read((tx) => tx.scanRows(parent, null, 10))).length, 0);
  });

  test(`${dialect}: quarantine bookkeeping: entries kept, listed by status and origin, updated`, async (t) => {
    const { fx } = await setup(t);
    const change = JSON.stringify({ table: 'parent', pk: ['x'], op: 'I', hlc: new HlcClock('n').tick(), cols: { id: 'x', name: 'é ⚗️' } });
    const ids = await fx.adapter.write(async (tx) => [
      await tx.addQuarantine({ origin: 'node-a', table: 'parent', pk: '["x"]', op: 'I', change, code: 'APPLY_FAILED', message: 'unique ⚗️', hubId: null }, 1000),
      await tx.addQuarantine({ origin: 'node-b', table: 'parent', pk: '["y"]', op: 'U', change, code: 'APPLY_FAILED', message: 'held', hubId: 42 }, 2000),
    ]);
    assert.ok(ids[1]! > ids[0]!);
    await fx.adapter.write((tx) => tx.updateQuarantine(ids[1]!, { status: 'discarded', resolvedAt: 3000, resolvedBy: 'cli:me', attempts: 2 }));
    const r = await fx.adapter.read(async (tx) => ({
      open: await tx.listQuarantine({ status: 'open', limit: 10 }),
      ofB: await tx.listQuarantine({ origin: 'node-b', limit: 10 }),
      one: await tx.getQuarantine(ids[0]!),
      none: await tx.getQuarantine(ids[1]! + 100),
      counts: [await tx.countQuarantine(), await tx.countQuarantine('open'), await tx.countQuarantine('discarded')],
    }));
    assert.deepEqual(r.open.map((e) => e.id), [ids[0]]);
    assert.deepEqual(r.one, { id: ids[0], at: 1000, origin: 'node-a', table: 'parent', pk: '["x"]', op: 'I', change, code: 'APPLY_FAILED', message: 'unique ⚗️', status: 'open', attempts: 1, resolvedAt: null, resolvedBy: null, hubId: null });
    assert.deepEqual(r.ofB.map((e) => [e.status, e.attempts, e.resolvedAt, e.resolvedBy, e.hubId]), [['discarded', 2, 3000, 'cli:me', 42]]);
    assert.equal(r.none, null);
    assert.deepEqual(r.counts, [2, 1, 1]);
  });

  test(`${dialect}: upserts insert or update in place, and applying a batch twice changes nothing more`, async (t) => {
    const { fx, tables } = await setup(t);
    const clock = new HlcClock('hub');
    const changes: Change[] = [
      { table: 'parent', pk: ['p1'], op: 'I' as const, hlc: clock.tick(), cols: { id: 'p1', name: 'one' } },
      { table: 'kinds', pk: [7], op: 'I' as const, hlc: clock.tick(), cols: { ...ROUND_TRIP[2]!, id: 7, parent_id: 'p1' } },
      { table: 'kinds', pk: [7], op: 'U' as const, hlc: clock.tick(), cols: { i: 5 } },
      { table: 'parent', pk: ['p2'], op: 'I' as const, hlc: clock.tick(), cols: { id: 'p2', name: 'two' } },
      { table: 'parent', pk: ['p2'], op: 'D' as const, hlc: clock.tick() },
    ];
    const once = await fx.adapter.write((tx) => applyChanges(tx, tables, changes));
    // Applied parents first, deletes last.
    assert.deepEqual(once.map((r) => [r.change.table, r.accepted?.op ?? null]), [['parent', 'I'], ['parent', 'I'], ['kinds', 'I'], ['kinds', 'U'], ['parent', 'D']]);
    const state1 = await fx.adapter.read(async (tx) => [await tx.scanRows(tables.get('parent')!, null, 100), await tx.scanRows(tables.get('kinds')!, null, 100)]);
    const twice = await fx.adapter.write((tx) => applyChanges(tx, tables, changes));
    assert.deepEqual(twice.map((r) => r.accepted), [null, null, null, null, null], 'a replayed batch is accepted nowhere');
    const state2 = await fx.adapter.read(async (tx) => [await tx.scanRows(tables.get('parent')!, null, 100), await tx.scanRows(tables.get('kinds')!, null, 100)]);
    assert.deepEqual(state2, state1);
    assert.equal((state1[1]![0] as Record<string, WireValue>).i, 5);
    assert.deepEqual(await capture(fx.adapter), []);
  });

  test(`${dialect}: a pull page with a parent and its child created and deleted in it, and the parent's restated delete, applies with foreign keys checked at every statement`, async (t) => {
    // Found by the torture soak on MariaDB labs: written change by change
    // (or restatements first), the child's insert came after its parent's
    // insert was superseded, or the parent's delete before its child's.
    const { fx, tables } = await setup(t);
    const clock = new HlcClock('hub');
    const h = Array.from({ length: 6 }, () => clock.tick());
    const page: Change[] = [
      { table: 'parent', pk: ['p9'], op: 'I', hlc: h[0]!, cols: { id: 'p9', name: 'nine' } },
      { table: 'kinds', pk: [9], op: 'I', hlc: h[1]!, cols: { ...ROUND_TRIP[2]!, id: 9, parent_id: 'p9' } },
      { table: 'kinds', pk: [9], op: 'D', hlc: h[2]! },
      { table: 'parent', pk: ['p9'], op: 'D', hlc: h[3]! },
      { table: 'parent', pk: ['p9'], op: 'D', hlc: h[3]!, restate: true },
      { table: 'parent', pk: ['p8'], op: 'D', hlc: h[4]!, restate: true },
      { table: 'parent', pk: ['p8'], op: 'I', hlc: h[5]!, cols: { id: 'p8', name: 'back' } },
    ];
    const results = await fx.adapter.write((tx) => applyChanges(tx, tables, page, (c) => c.restate === true));
    assert.equal(results.length, page.length);
    const [parents, kinds] = await fx.adapter.read(async (tx) => [await tx.scanRows(tables.get('parent')!, null, 100), await tx.scanRows(tables.get('kinds')!, null, 100)]);
    assert.deepEqual(parents!.map((r) => [r.id, r.name]), [['p8', 'back']], 'a newer insert after a restated delete brings the row back');
    assert.deepEqual(kinds, []);
    assert.deepEqual(await capture(fx.adapter), []);
  });

  test(`${dialect}: batched writes (multi-row upserts, deletes, stamps, log entries, capture stamps) equal the row-by-row ones`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await fx.adapter.installBookkeeping('hub'); // the change log
    // 1,234 rows: full multi-row chunks and a remainder on every dialect; then half of them updated in place.
    const rows = Array.from({ length: 1234 }, (_, i) => ({ id: `b${String(i).padStart(5, '0')}`, name: `n${i}` }));
    const clock = new HlcClock('n');
    await fx.adapter.write(async (tx) => {
      await tx.upsertRows(parent, rows);
      await tx.upsertRows(parent, rows.filter((_, i) => i % 2 === 0).map((r) => ({ ...r, name: `${r.name}!` })));
      await tx.deleteRows(parent, rows.filter((_, i) => i % 3 === 0).map((r) => [r.id]));
      await tx.putMetas('parent', rows.map((r, i) => [pkKey([r.id]), { exists: i % 3 !== 0, hlc: clock.tick(), colHlc: (i % 5 === 0 ? { name: clock.tick() } : {}) as Record<string, string> }] as const));
      await tx.appendLogs(rows.slice(0, 700).map((r, i) => ({ change: { table: 'parent', pk: [r.id], op: 'I' as const, hlc: `000000000000001-${i.toString(16).padStart(8, '0')}-n`, cols: r }, origin: i % 2 ? 'n-1' : null })));
    });
    const back = await fx.adapter.read(async (tx) => ({
      rows: await tx.getRows(parent, rows.map((r) => [r.id])),
      metas: await tx.getMeta('parent', rows.map((r) => pkKey([r.id]))),
      log: await tx.readLog({ after: 0, limit: 10_000, excludeOrigin: null, tables: ['parent'] }),
    }));
    rows.forEach((r, i) => {
      assert.deepEqual(back.rows.get(pkKey([r.id])), i % 3 === 0 ? undefined : { id: r.id, name: i % 2 === 0 ? `${r.name}!` : r.name }, r.id);
      assert.equal(back.metas.get(pkKey([r.id]))?.exists, i % 3 !== 0);
      assert.equal(Object.keys(back.metas.get(pkKey([r.id]))!.colHlc).length, i % 5 === 0 ? 1 : 0);
    });
    assert.deepEqual(back.log.entries.map((e) => e.change.pk[0]), rows.slice(0, 700).map((r) => r.id), 'log entries in the order appended');
    assert.deepEqual(back.log.entries.map((e) => e.seq), back.log.entries.map((_, i) => back.log.entries[0]!.seq + i), 'consecutive log sequence numbers');
    // The app's writes, stamped in one batch.
    const live = rows.filter((_, i) => i % 3 !== 0);
    for (let i = 0; i < 450; i++) await fx.appExec(`UPDATE parent SET name = 'app${i}' WHERE id = '${live[i]!.id}'`);
    const unstamped = await fx.adapter.read((tx) => tx.readCapture({ unstamped: true, limit: 10_000 }));
    assert.equal(unstamped.length, 450);
    await fx.adapter.write((tx) => tx.setCaptureStamps(unstamped.map((r, i) => ({ id: r.id, hlc: `h${i}`, seq: 1_000_000_000_000 + i }))));
    const stamped = await fx.adapter.read((tx) => tx.readCapture({ afterSeq: 0, limit: 10_000 }));
    assert.deepEqual(stamped.map((r) => [r.id, r.hlc, r.seq]), unstamped.map((r, i) => [r.id, `h${i}`, 1_000_000_000_000 + i]));
  });

  test(`${dialect}: values round-trip exactly, written by the agent and by the app`, async (t) => {
    const { fx, tables } = await setup(t);
    const kinds = tables.get('kinds')!;
    await fx.adapter.write(async (tx) => {
      await tx.upsertRow(tables.get('parent')!, { id: 'p1', name: 'parent' });
      for (const row of ROUND_TRIP) await tx.upsertRow(kinds, row);
    });
    const back = await fx.adapter.read((tx) => tx.getRows(kinds, ROUND_TRIP.map((r) => [r.id!])));
    for (const row of ROUND_TRIP) assert.deepEqual(back.get(pkKey([row.id!])), row, `row ${JSON.stringify(row.id)}`);
    // Written by the app: the captured key and the stamped row stamps match the key read back.
    await fx.appExec('INSERT INTO kinds (id, big, t) VALUES (9007199254740995, 9007199254740995, \'app\')');
    const clock = new HlcClock('n');
    const stamped: string[] = [];
    await fx.adapter.write((tx) => stampCaptured(tx, clock, tables, 0, async (page) => { stamped.push(...page.map((s) => s.key)); }));
    const key = pkKey([{ $n: '9007199254740995' }]);
    assert.deepEqual(stamped, [key]);
    const row = (await fx.adapter.read((tx) => tx.getRows(kinds, [[{ $n: '9007199254740995' }]]))).get(key);
    assert.deepEqual([row?.big, row?.t], [{ $n: '9007199254740995' }, 'app']);
  });

  test(`${dialect}: a read transaction sees one consistent snapshot while the app writes`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await fx.appExec("INSERT INTO parent (id, name) VALUES ('a', 'before')");
    const seen = await fx.adapter.read(async (tx) => {
      const first = await tx.scanRows(parent, null, 100);
      await fx.appExec("INSERT INTO parent (id, name) VALUES ('b', 'during')");
      await fx.appExec("UPDATE parent SET name = 'changed' WHERE id = 'a'");
      const second = await tx.scanRows(parent, null, 100);
      return { first, second };
    });
    assert.deepEqual(seen.second, seen.first);
    assert.equal((await fx.adapter.read((tx) => tx.scanRows(parent, null, 100))).length, 2);
  });

  test(`${dialect}: purge bookkeeping: deletes in a log window, markers dropped only with their stamp, the log head kept, staged pages counted`, async (t) => {
    const { fx } = await setup(t);
    await fx.adapter.installBookkeeping('hub');
    const h = (n: number): string => `00000000000000${n}-00000000-n`;
    const ch = (pk: WireValue[], op: Change['op'], n: number, restate?: true): Change => ({ table: 'parent', pk, op, hlc: h(n), ...(op === 'D' ? {} : { cols: { id: pk[0]!, name: 'x' } }), ...(restate ? { restate } : {}) });
    const first = await fx.adapter.write(async (tx) => {
      const s = await tx.appendLog(ch(['a'], 'I', 1), null);
      await tx.appendLogs([{ change: ch(['a'], 'D', 2), origin: 'n-1' }, { change: ch(['b'], 'I', 3), origin: null }, { change: ch(['b'], 'D', 4, true), origin: null }, { change: ch(['c'], 'D', 5), origin: null }, { change: ch(['d'], 'U', 6), origin: null }]);
      for (const [k, n, ex] of [['a', 2, false], ['b', 4, false], ['c', 7, false], ['d', 6, true]] as const) await tx.putMeta('parent', pkKey([k]), { exists: ex, hlc: h(n), colHlc: {} });
      await tx.putStaged('n-1', 0, 9, 0, '[]');
      await tx.putStaged('n-1', 0, 9, 1, '[]');
      return s;
    });
    const r = await fx.adapter.write(async (tx) => {
      const deletes = await tx.readLogDeletes(first, first + 4);
      // c's marker carries a newer stamp than its logged delete (deleted again since): it stays.
      const markers = await tx.deleteMarkers(deletes);
      const log = await tx.deleteLogThrough(first + 100);
      return { deletes, markers, log, staged: await tx.clearStaged('n-1') };
    });
    assert.deepEqual(r.deletes, [{ table: 'parent', pk: pkKey(['a']), hlc: h(2) }, { table: 'parent', pk: pkKey(['b']), hlc: h(4) }, { table: 'parent', pk: pkKey(['c']), hlc: h(5) }]);
    assert.deepEqual([r.markers, r.log, r.staged], [2, 5, 2]);
    const back = await fx.adapter.read(async (tx) => ({
      head: await tx.maxLogSeq(),
      metas: await tx.getMeta('parent', ['a', 'b', 'c', 'd'].map((k) => pkKey([k]))),
      markers: await tx.listMarkers({ maxHlc: h(9), after: null, limit: 10 }),
    }));
    assert.equal(back.head, first + 5, 'the newest entry is kept whatever the purge asks');
    assert.deepEqual([...back.metas.keys()].sort(), [pkKey(['c']), pkKey(['d'])]);
    assert.deepEqual(back.markers, [{ table: 'parent', pk: pkKey(['c']), hlc: h(7) }]);
    assert.equal(await fx.adapter.write((tx) => tx.appendLog(ch(['e'], 'I', 8), null)), first + 6, 'the sequence goes on after a purge');
    // Markers page in (table, key) order, at or below a stamp.
    await fx.adapter.write(async (tx) => { for (let i = 0; i < 7; i++) await tx.putMeta('parent', pkKey([`m${i}`]), { exists: false, hlc: h(i), colHlc: {} }); });
    const pages: string[][] = [];
    let after: { table: string; pk: string } | null = null;
    for (;;) {
      const page: { table: string; pk: string }[] = await fx.adapter.read((tx) => tx.listMarkers({ maxHlc: h(5), after, limit: 4 }));
      if (!page.length) break;
      pages.push(page.map((m) => m.pk));
      after = page[page.length - 1]!;
    }
    assert.deepEqual(pages, [[0, 1, 2, 3].map((i) => pkKey([`m${i}`])), [4, 5].map((i) => pkKey([`m${i}`]))]);
  });

  test(`${dialect}: scanRows pages through a table in key order`, async (t) => {
    const { fx, tables } = await setup(t);
    const parent = tables.get('parent')!;
    await fx.adapter.write(async (tx) => { for (let i = 0; i < 25; i++) await tx.upsertRow(parent, { id: `k${String(i).padStart(2, '0')}`, name: String(i) }); });
    const ids: WireValue[] = [];
    let after: unknown[] | null = null;
    for (;;) {
      const page: Record<string, WireValue>[] = await fx.adapter.read((tx) => tx.scanRows(parent, after, 10));
      if (!page.length) break;
      ids.push(...page.map((r) => r.id!));
      after = [page[page.length - 1]!.id];
    }
    assert.deepEqual(ids, Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`));
  });

  test(`${dialect}: verify digests of rows read back equal those of the rows written, in any key order`, async (t) => {
    const { fx, tables } = await setup(t);
    const kinds = tables.get('kinds')!;
    await fx.adapter.write(async (tx) => {
      await tx.upsertRow(tables.get('parent')!, { id: 'p1', name: 'parent' });
      for (const row of ROUND_TRIP) await tx.upsertRow(kinds, row);
    });
    for (const buckets of [1, 3, 64]) {
      const expected = new BucketSums(buckets);
      for (const row of [...ROUND_TRIP].reverse()) expected.add(keyBucket(pkKey([row.id!]), buckets), rowDigest(kinds, row));
      const got = await fx.adapter.read((tx) => tableSums(tx, kinds, buckets));
      assert.deepEqual(got.toWire(), expected.toWire(), `${buckets} bucket(s)`);
    }
  });

  test(`${dialect}: repairs are recorded and listed in order, values kept exactly`, async (t) => {
    const { fx } = await setup(t);
    const old = JSON.stringify({ id: 'p1', name: 'Erlenmeyer ⚗️ 🧪 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢', note: 'x'.repeat(70_000) });
    await fx.adapter.write(async (tx) => {
      await tx.addRepair({ table: 'parent', pk: '["p1"]', kind: 'values-differ', oldValues: old, oldHlc: '001732212345678-00000000-n-3f9c2a7b10de', newValues: '{"id":"p1","name":"hub"}', newHlc: '001732212345000-00000001-hub' }, 1_700_000_000_001);
      await tx.addRepair({ table: 'kinds', pk: '[{"$n":"9007199254740993"}]', kind: 'missing-on-node', oldValues: null, oldHlc: null, newValues: '{"id":1}', newHlc: '001732212345000-00000002-hub' }, 1_700_000_000_002);
      await tx.addRepair({ table: 'parent', pk: '["p2"]', kind: 'missing-on-hub', oldValues: '{"id":"p2"}', oldHlc: null, newValues: null, newHlc: '000000000000000-00000000-' }, 1_700_000_000_003);
    });
    const all = await fx.adapter.read((tx) => tx.listRepairs({ limit: 10 }));
    assert.deepEqual(all.map((r) => [r.table, r.pk, r.kind, r.at]), [
      ['parent', '["p1"]', 'values-differ', 1_700_000_000_001],
      ['kinds', '[{"$n":"9007199254740993"}]', 'missing-on-node', 1_700_000_000_002],
      ['parent', '["p2"]', 'missing-on-hub', 1_700_000_000_003],
    ]);
    assert.equal(all[0]!.oldValues, old);
    assert.deepEqual([all[1]!.oldValues, all[1]!.oldHlc, all[2]!.newValues], [null, null, null]);
    assert.ok(all[0]!.id < all[1]!.id && all[1]!.id < all[2]!.id);
    assert.deepEqual((await fx.adapter.read((tx) => tx.listRepairs({ after: all[0]!.id, limit: 1 }))).map((r) => r.pk), ['[{"$n":"9007199254740993"}]']);
    // Recorded in the write transaction: rolled back with it.
    await assert.rejects(fx.adapter.write(async (tx) => {
      await tx.addRepair({ table: 'parent', pk: '["p3"]', kind: 'values-differ', oldValues: null, oldHlc: null, newValues: null, newHlc: null }, 1);
      throw new Error('abort');
    }), /abort/);
    assert.equal((await fx.adapter.read((tx) => tx.listRepairs({ limit: 10 }))).length, 3);
  });

  /** `kinds` with its INTEGER column `i` a counter (big, a BIGINT, too), its capture triggers installed for that. */
  const counterSetup = async (t: TestContext): Promise<{ fx: ConformanceFixture; tables: Map<string, TableSchema>; kinds: TableSchema }> => {
    const { fx, tables } = await setup(t);
    const kinds: TableSchema = { ...tables.get('kinds')!, columnPolicies: { i: 'counter', big: 'counter' } };
    tables.set('kinds', kinds);
    await fx.adapter.installTriggers(kinds, 'capture');
    return { fx, tables, kinds };
  };
  const captured = (a: Adapter): Promise<[string, string, string[] | null, Record<string, number> | undefined][]> =>
    a.read((tx) => tx.readCapture({ unstamped: true, limit: 1000 })).then((rows) => rows.map((r) => [r.pk, r.op, r.cols, r.deltas]));

  test(`${dialect}: counter capture: a change of a counter column is its delta NEW − OLD; a rename alone has none; a stocktake is the difference; a NULL has no delta; the agent's writes are not captured`, async (t) => {
    const { fx, kinds } = await counterSetup(t);
    await fx.appExec("INSERT INTO kinds (id, i, big, t) VALUES (10, 7, 9007199254740993, 'x')");
    await fx.appExec("UPDATE kinds SET t = 'renamed' WHERE id = 10");
    await fx.appExec("UPDATE kinds SET i = i - 2, t = 'again' WHERE id = 10");
    await fx.appExec('UPDATE kinds SET i = 40 WHERE id = 10');
    await fx.appExec('UPDATE kinds SET i = i + 0, big = big + 1 WHERE id = 10');
    await fx.appExec('UPDATE kinds SET i = NULL WHERE id = 10');
    await fx.appExec('UPDATE kinds SET i = 5 WHERE id = 10');
    await fx.appExec('UPDATE kinds SET id = 11 WHERE id = 10');
    assert.deepEqual(await captured(fx.adapter), [
      // An insert records the inserted values (beyond 2^53: no number, the hub reads the row).
      ['[10]', 'I', ['i', 'big'], { i: 7 }],
      ['[10]', 'U', ['t'], undefined],
      ['[10]', 'U', ['i', 't'], { i: -2 }],
      ['[10]', 'U', ['i'], { i: 35 }],
      ['[10]', 'U', ['big'], { big: 1 }],
      ['[10]', 'U', ['i'], undefined],
      ['[10]', 'U', ['i'], undefined],
      ['[10]', 'D', null, undefined],
      ['[11]', 'I', ['i', 'big'], { i: 5 }],
    ]);
    // Echo suppression holds for counter columns too.
    await fx.adapter.write(async (tx) => {
      await tx.updateRow(kinds, [11], { i: 99 });
      await tx.upsertRow(kinds, { ...ROUND_TRIP[2]!, id: 12, i: 1 });
    });
    assert.equal((await captured(fx.adapter)).length, 9);
  });

  test(`${dialect}: counter apply: deltas add to the stored value in any stamp order, a batch's deltas compose, a delta on a missing or deleted row is a conflict, and on a node the hub's value gets the pending deltas on top`, async (t) => {
    const { fx, tables, kinds } = await counterSetup(t);
    const clock = new HlcClock('hub');
    const h = Array.from({ length: 8 }, () => clock.tick());
    await fx.adapter.write((tx) => applyChanges(tx, tables, [
      { table: 'kinds', pk: [20], op: 'I', hlc: h[0]!, cols: { ...ROUND_TRIP[2]!, id: 20, i: 10 } },
      { table: 'kinds', pk: [21], op: 'I', hlc: h[0]!, cols: { ...ROUND_TRIP[2]!, id: 21, i: 10 } },
    ]));
    const i20 = async (): Promise<WireValue> => (await fx.adapter.read((tx) => tx.getRows(kinds, [[20]]))).get('[20]')!.i!;
    // Newer, then older stamps: both add; the column's stamp is the newest.
    const r = await fx.adapter.write((tx) => applyChanges(tx, tables, [
      { table: 'kinds', pk: [20], op: 'U', hlc: h[3]!, deltas: { i: -3 } },
      { table: 'kinds', pk: [20], op: 'U', hlc: h[2]!, cols: { t: 'old name' }, deltas: { i: -4 } },
      { table: 'kinds', pk: [22], op: 'U', hlc: h[3]!, deltas: { i: -1 } },
    ]));
    assert.equal(await i20(), 3);
    assert.deepEqual(r.map((x) => x.accepted && { cols: x.accepted.cols, deltas: x.accepted.deltas, hlc: x.accepted.hlc }), [
      { cols: undefined, deltas: { i: -3 }, hlc: h[3] },
      { cols: { t: 'old name' }, deltas: { i: -4 }, hlc: h[2] },
      null,
    ]);
    assert.deepEqual(r[2]!.conflicts.map((c) => [c.kind, c.column, c.lost]), [['update-missing', 'i', { delta: -1 }]]);
    const meta = (await fx.adapter.read((tx) => tx.getMeta('kinds', ['[20]']))).get('[20]')!;
    assert.equal(meta.colHlc.i, h[3]);
    // A batch: an absolute value, then deltas on it; a delete, then a delta on the deleted row.
    const r2 = await fx.adapter.write((tx) => applyChanges(tx, tables, [
      { table: 'kinds', pk: [20], op: 'I', hlc: h[4]!, cols: { ...ROUND_TRIP[2]!, id: 20, i: 100 } },
      { table: 'kinds', pk: [20], op: 'U', hlc: h[5]!, deltas: { i: 5 } },
      { table: 'kinds', pk: [20], op: 'U', hlc: h[5]!, deltas: { i: -1 } },
      { table: 'kinds', pk: [21], op: 'D', hlc: h[5]! },
      { table: 'kinds', pk: [21], op: 'U', hlc: h[6]!, deltas: { i: -2 } },
    ]));
    assert.equal(await i20(), 104);
    assert.deepEqual(r2.flatMap((x) => x.conflicts.map((c) => [c.kind, c.lost])), [['update-deleted', { delta: -2 }]]);
    // On a node: the hub's value, whatever the stamps, plus the node's pending deltas.
    const pending = new Map([[rowKey('kinds', [20]), { i: -7 }]]);
    await fx.adapter.write((tx) => applyChanges(tx, tables, [{ table: 'kinds', pk: [20], op: 'I', hlc: h[1]!, cols: { ...ROUND_TRIP[2]!, id: 20, i: 50 }, restate: true }], () => false, pending));
    assert.equal(await i20(), 43);
    // Where the pending change is absolute (null), stamps decide: the older value loses.
    await fx.adapter.write((tx) => applyChanges(tx, tables, [{ table: 'kinds', pk: [20], op: 'I', hlc: h[1]!, cols: { ...ROUND_TRIP[2]!, id: 20, i: 1 } }], () => false, new Map([[rowKey('kinds', [20]), null]])));
    assert.equal(await i20(), 43);
    assert.deepEqual(await captured(fx.adapter), [], 'applied deltas are not captured');
  });

  test(`${dialect}: the change log keeps a change's deltas (inside cols, as $deltas) and gives them back apart`, async (t) => {
    const { fx } = await counterSetup(t);
    await fx.adapter.installBookkeeping('hub');
    const hlc = '000000000000001-00000000-n';
    await fx.adapter.write((tx) => tx.appendLogs([
      { change: { table: 'kinds', pk: [1], op: 'U', hlc, deltas: { i: -3 } }, origin: 'n-1' },
      { change: { table: 'kinds', pk: [1], op: 'U', hlc, cols: { t: 'x' }, deltas: { i: 2, big: -1 }, colHlc: { t: '000000000000000-00000000-n' } }, origin: null },
      { change: { table: 'kinds', pk: [1], op: 'U', hlc, cols: { t: 'y' } }, origin: null },
    ]));
    const { entries } = await fx.adapter.read((tx) => tx.readLog({ after: 0, limit: 10, excludeOrigin: null, tables: ['kinds'] }));
    assert.deepEqual(entries.map((e) => [e.change.cols, e.change.deltas, e.change.colHlc]), [
      [undefined, { i: -3 }, undefined],
      [{ t: 'x' }, { i: 2, big: -1 }, { t: '000000000000000-00000000-n' }],
      [{ t: 'y' }, undefined, undefined],
    ]);
  });
}
