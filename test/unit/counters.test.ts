import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { HlcClock, OutpostError, pkKey, type Change, type TableSchema } from '../../src/protocol/index.ts';
import { addToCounter, applyChanges, coalesceRow, pendingDeltas, type CapturedOp, type CaptureRow } from '../../src/engine/index.ts';
import { parseCaptureCols } from '../../src/adapters/bookkeeping.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { validatePushedChange } from '../../src/hub/validate-change.ts';
import { tempDir } from '../helpers/fixtures.ts';

const T: TableSchema = {
  name: 'stock',
  columns: [
    { name: 'id', type: 'INTEGER', kind: 'integer', notNull: true },
    { name: 'q', type: 'INTEGER', kind: 'integer', notNull: true },
    { name: 'name', type: 'TEXT', kind: 'text', notNull: false },
  ],
  primaryKey: ['id'],
  foreignKeys: [],
  direction: 'both',
  policy: 'merge',
  columnPolicies: { q: 'counter' },
};
const catalogue = new Map([[T.name, T]]);

/** One delta a replica (0..3) issued, with the stamp its clock gave it. */
const deltasArb = fc.array(fc.record({ replica: fc.integer({ min: 0, max: 3 }), delta: fc.integer({ min: -1000, max: 1000 }), rename: fc.boolean() }), { minLength: 1, maxLength: 30 });

test('counters: random deltas from several replicas, applied in any order and any batching, sum to the same value with the same stamps', async (t) => {
  const path = join(tempDir(t), 'counters.db');
  const app = new Database(path);
  app.exec('CREATE TABLE stock (id INTEGER PRIMARY KEY, q INTEGER NOT NULL, name TEXT)');
  app.close();
  const db = new SqliteAdapter(path);
  t.after(() => db.close());
  await db.installBookkeeping('node');
  const clock0 = new HlcClock('hub');
  let nextId = 0;
  await fc.assert(
    fc.asyncProperty(deltasArb, fc.array(fc.nat(), { minLength: 60, maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 2 }), async (issued, shuffle, batchSizes) => {
      const clocks = [0, 1, 2, 3].map((i) => new HlcClock(`lab-${i}`, () => 1_700_000_000_000 + i));
      const changes = issued.map((d, i): Change => {
        const hlc = clocks[d.replica]!.tick();
        return { table: 'stock', pk: [0], op: 'U', hlc, deltas: { q: d.delta }, ...(d.rename ? { cols: { name: `n${i}` } } : {}) };
      });
      // Two orders: as issued, and a shuffle of it.
      const shuffled = [...changes];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = shuffle[i % shuffle.length]! % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const results = [];
      for (const [k, order] of [changes, shuffled].entries()) {
        const id = ++nextId;
        const rows = order.map((c) => ({ ...c, pk: [id] }));
        await db.write((tx) => applyChanges(tx, catalogue, [{ table: 'stock', pk: [id], op: 'I', hlc: clock0.tick(), cols: { id, q: 10, name: null } }]));
        for (let i = 0; i < rows.length; i += batchSizes[k]!) await db.write((tx) => applyChanges(tx, catalogue, rows.slice(i, i + batchSizes[k]!)));
        results.push(await db.read(async (tx) => {
          const row = (await tx.getRows(T, [[id]])).get(pkKey([id]))!;
          const meta = (await tx.getMeta('stock', [pkKey([id])])).get(pkKey([id]))!;
          return { q: row.q, name: row.name, stamps: meta.colHlc };
        }));
      }
      const sum = issued.reduce((s, d) => s + d.delta, 10);
      assert.equal(results[0]!.q, sum);
      assert.deepEqual(results[1], results[0], 'the same value, the same name (newest stamp) and the same stamps in either order');
    }),
    { numRuns: 40 },
  );
});

test('counters: a row\'s captured updates coalesce into the sum of their deltas; an insert or delete among them sends the value; an update without a delta (a NULL) sends the value', () => {
  const meta = { exists: true, hlc: '000000000000001-00000000-n', colHlc: { q: '000000000000003-00000000-n', name: '000000000000002-00000000-n' } };
  fc.assert(
    fc.property(fc.array(fc.record({ d: fc.integer({ min: -50, max: 50 }), rename: fc.boolean() }), { minLength: 1, maxLength: 10 }), (ops) => {
      const captured: CapturedOp[] = ops.map((o) => ({ op: 'U', cols: o.rename ? ['q', 'name'] : ['q'], deltas: { q: o.d } }));
      const c = coalesceRow('stock', ['id', 'q', 'name'], [1], captured, meta, { id: 1, q: 999, name: 'x' }, false, ['q'])!;
      assert.equal(c.op, 'U');
      assert.deepEqual(c.deltas, { q: ops.reduce((s, o) => s + o.d, 0) });
      assert.ok(!c.cols || !('q' in c.cols), 'never the counter\'s value in an update');
      assert.equal(c.hlc, meta.colHlc.q);
      // lww (fullRow): the counter still goes as a delta, the other columns as values.
      const lww = coalesceRow('stock', ['id', 'q', 'name'], [1], captured, meta, { id: 1, q: 999, name: 'x' }, true, ['q'])!;
      assert.deepEqual([lww.cols, lww.deltas], [{ id: 1, name: 'x' }, c.deltas]);
    }),
  );
  const current = { id: 1, q: 7, name: 'x' };
  // Only the rename: no counter.
  assert.deepEqual(coalesceRow('stock', ['id', 'q', 'name'], [1], [{ op: 'U', cols: ['name'] }], meta, current, false, ['q']), { table: 'stock', pk: [1], op: 'U', hlc: meta.colHlc.name, cols: { name: 'x' } });
  // Inserted since the last push: the values.
  assert.deepEqual(coalesceRow('stock', ['id', 'q', 'name'], [1], [{ op: 'I', cols: ['q'], deltas: { q: 9 } }, { op: 'U', cols: ['q'], deltas: { q: -2 } }], meta, current, false, ['q'])?.cols, current);
  // A write with a NULL has no delta: the value goes.
  const abs = coalesceRow('stock', ['id', 'q', 'name'], [1], [{ op: 'U', cols: ['q'], deltas: { q: -2 } }, { op: 'U', cols: ['q'] }], meta, current, false, ['q'])!;
  assert.deepEqual([abs.cols, abs.deltas], [{ q: 7 }, undefined]);
  // A delta sum of 0 still travels (the column was written and its stamp moved).
  assert.deepEqual(coalesceRow('stock', ['id', 'q', 'name'], [1], [{ op: 'U', cols: ['q'], deltas: { q: 2 } }, { op: 'U', cols: ['q'], deltas: { q: -2 } }], meta, current, false, ['q'])?.deltas, { q: 0 });
});

test('counters: capture tokens parse into names and deltas; pending deltas sum per row, and an insert, delete or NULL write makes the row absolute', () => {
  assert.deepEqual(parseCaptureCols('name,quantity=-3,'), { cols: ['name', 'quantity'], deltas: { quantity: -3 } });
  assert.deepEqual(parseCaptureCols('name,'), { cols: ['name'] });
  assert.deepEqual(parseCaptureCols('q=99999999999999999999,'), { cols: ['q'] }, 'beyond 2^53: no delta (absolute)');
  const row = (id: number, pk: number, op: CaptureRow['op'], text: string | null): CaptureRow => ({ id, seq: id, table: 'stock', pk: JSON.stringify([pk]), op, cols: null, ts: 0, hlc: null, ...(text ? parseCaptureCols(text) : {}) });
  const p = pendingDeltas([row(1, 1, 'U', 'q=-3,'), row(2, 1, 'U', 'name,q=5,'), row(3, 2, 'U', 'q=-1,'), row(4, 2, 'D', null), row(5, 3, 'U', 'q,'), row(6, 4, 'U', 'name,')], catalogue);
  assert.deepEqual([...p], [['stock\u0000[1]', { q: 2 }], ['stock\u0000[2]', null], ['stock\u0000[3]', null], ['stock\u0000[4]', {}]]);
  assert.deepEqual([addToCounter(9007199254740991, 2), addToCounter({ $n: '9007199254740993' }, -2), addToCounter(null, -3), addToCounter(5, -7)], [{ $n: '9007199254740993' }, 9007199254740991, -3, -2]);
});

test('counters: the hub accepts deltas only for counter columns of an update, never with the value too', () => {
  const hlc = '000000000000001-00000000-n';
  const u = (extra: Partial<Change>): Change => ({ table: 'stock', pk: [1], op: 'U', hlc, ...extra });
  assert.equal(validatePushedChange(u({ deltas: { q: -3 } }), catalogue), T);
  assert.equal(validatePushedChange(u({ cols: { name: 'x' }, deltas: { q: -3 }, colHlc: { q: '000000000000000-00000000-n' } }), catalogue), T);
  const refused = (c: Change, code: string, re: RegExp): void => {
    assert.throws(() => validatePushedChange(c, catalogue), (e: OutpostError) => e.code === code && re.test(e.message) && e.status === 400);
  };
  refused(u({ deltas: { name: 1 } }), 'VALIDATION_FAILED', /not a counter column/);
  refused(u({ deltas: { nope: 1 } }), 'UNKNOWN_COLUMN', /no column "nope"/);
  refused(u({ cols: { q: 4 }, deltas: { q: -3 } }), 'VALIDATION_FAILED', /both in cols and in deltas/);
  refused({ table: 'stock', pk: [1], op: 'I', hlc, cols: { id: 1, q: 4 }, deltas: { q: -3 } }, 'VALIDATION_FAILED', /only an update carries deltas/);
  refused({ table: 'stock', pk: [1], op: 'D', hlc, deltas: { q: -3 } }, 'VALIDATION_FAILED', /a delete carries no deltas/);
  refused(u({ deltas: {} }), 'VALIDATION_FAILED', /at least one column or delta/);
});
