import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatHlc, type Change, type WireValue } from '../../src/protocol/index.ts';
import { resolveChange, type RowMeta } from '../../src/engine/index.ts';
import { backoffDelay } from '../../src/node/run-loop.ts';

const h = (wall: number, node = 'n'): string => formatHlc({ wall, counter: 0, node });
const COLS = ['a', 'b', 'c'];

/** A replica of one row: what resolveChange decides, applied to plain values. */
function replay(changes: Change[], policy: 'merge' | 'lww'): { meta: RowMeta | undefined; values: Record<string, WireValue> | null } {
  let meta: RowMeta | undefined;
  let values: Record<string, WireValue> | null = null;
  for (const c of changes) {
    const r = resolveChange(meta, c, policy);
    if (r.action.kind === 'insert') values = { ...r.action.cols };
    else if (r.action.kind === 'update') values = { ...values!, ...r.action.cols };
    else if (r.action.kind === 'delete') values = null;
    meta = r.meta;
  }
  return { meta, values };
}

test('resolve: replicas that apply the same concurrent updates and a delete in any order end equal', () => {
  const update = fc.record({ wall: fc.integer({ min: 2, max: 1000 }), node: fc.constantFrom('a', 'b', 'c'), col: fc.constantFrom(...COLS), v: fc.integer() });
  fc.assert(
    fc.property(
      fc.uniqueArray(update, { selector: (u) => `${u.wall}/${u.node}`, maxLength: 12 }),
      fc.option(fc.record({ wall: fc.integer({ min: 2, max: 1000 }), node: fc.constant('d') })),
      fc.constantFrom('merge' as const, 'lww' as const),
      fc.integer({ min: 0, max: 1_000_000 }),
      (updates, del, policy, seed) => {
        const insert: Change = { table: 't', pk: [1], op: 'I', hlc: h(1, 'origin'), cols: { id: 1, a: 0, b: 0, c: 0 } };
        // lww sources send whole rows; merge sources send the changed column.
        const cols = (u: (typeof updates)[number]): Record<string, WireValue> => (policy === 'lww' ? { a: u.v, b: u.v + 1, c: u.v + 2 } : { [u.col]: u.v });
        const rest: Change[] = updates.map((u) => ({ table: 't', pk: [1], op: 'U', hlc: h(u.wall, u.node), cols: cols(u) }));
        if (del) rest.push({ table: 't', pk: [1], op: 'D', hlc: h(del.wall, del.node) });
        const shuffled = fc.sample(fc.shuffledSubarray(rest, { minLength: rest.length, maxLength: rest.length }), { seed, numRuns: 1 })[0]!;
        const one = replay([insert, ...rest], policy);
        const two = replay([insert, ...shuffled], policy);
        assert.deepEqual(two.values, one.values);
        assert.equal(two.meta?.exists, one.meta?.exists);
        if (del) assert.equal(one.values, null, 'a delete wins over concurrent updates');
        if (!del && policy === 'lww' && updates.length) {
          const newest = [...updates].sort((x, y) => (h(y.wall, y.node) > h(x.wall, x.node) ? 1 : -1))[0]!;
          assert.deepEqual(one.values, { id: 1, ...cols(newest) }, 'lww: the newest whole row wins');
        }
        if (!del && policy === 'merge') {
          for (const col of COLS) {
            const newest = updates.filter((u) => u.col === col).sort((x, y) => (h(y.wall, y.node) > h(x.wall, x.node) ? 1 : -1))[0];
            assert.equal(one.values![col], newest ? newest.v : 0, `column ${col} holds its newest write`);
          }
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('resolve: a newer insert brings a deleted row back; an older one stays out and is recorded', () => {
  const ins = (wall: number): Change => ({ table: 't', pk: [1], op: 'I', hlc: h(wall), cols: { id: 1, a: wall } });
  const deleted: RowMeta = { exists: false, hlc: h(5), colHlc: {} };
  const back = resolveChange(deleted, ins(6), 'merge');
  assert.equal(back.action.kind, 'insert');
  assert.deepEqual(back.meta, { exists: true, hlc: h(6), colHlc: {} });
  const stale = resolveChange(deleted, ins(4), 'merge');
  assert.equal(stale.action.kind, 'none');
  assert.equal(stale.conflicts[0]?.kind, 'stale-insert');
});

test('resolve: every losing write is recorded; equal stamps are a replay, not a conflict', () => {
  const meta: RowMeta = { exists: true, hlc: h(1), colHlc: { a: h(10) } };
  const lose = resolveChange(meta, { table: 't', pk: [1], op: 'U', hlc: h(5), cols: { a: 'old', b: 'new' } }, 'merge');
  assert.equal(lose.action.kind, 'update');
  assert.deepEqual(lose.action.kind === 'update' && lose.action.cols, { b: 'new' });
  assert.deepEqual(lose.conflicts.map((c) => [c.kind, c.column, c.lost]), [['column', 'a', 'old']]);
  const replay = resolveChange(meta, { table: 't', pk: [1], op: 'U', hlc: h(10), cols: { a: 'same' } }, 'merge');
  assert.deepEqual([replay.action.kind, replay.conflicts.length], ['none', 0]);
  const missing = resolveChange(undefined, { table: 't', pk: [1], op: 'U', hlc: h(3), cols: { a: 1 } }, 'merge');
  assert.deepEqual(missing.conflicts.map((c) => c.kind), ['update-missing']);
  const lww = resolveChange(meta, { table: 't', pk: [1], op: 'U', hlc: h(7), cols: { b: 'x' } }, 'lww');
  assert.equal(lww.action.kind, 'none', 'lww: a change older than the row\'s newest write loses as a whole');
  assert.equal(lww.conflicts[0]?.kind, 'row');
});

test('backoff: exponential, capped, with jitter between half and the full delay', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const full = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 30));
      const d = backoffDelay(attempt, 1000, 60_000, () => r);
      assert.ok(d >= Math.floor(full / 2) && d <= full, `attempt ${attempt}: ${d} within [${full / 2}, ${full}]`);
    }),
  );
  assert.equal(backoffDelay(0, 1000, 60_000, () => 0), 500);
  assert.equal(backoffDelay(10, 1000, 60_000, () => 0.999999), 60_000);
});
