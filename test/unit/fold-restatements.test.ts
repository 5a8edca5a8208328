import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldRestatements, planApply } from '../../src/engine/index.ts';
import type { Change, TableSchema } from '../../src/protocol/index.ts';

const table = (name: string, fk?: string): TableSchema => ({
  name, direction: 'both', policy: 'merge', primaryKey: ['id'],
  columns: [{ name: 'id', kind: 'text', nullable: false }, { name: 'v', kind: 'text', nullable: true }],
  foreignKeys: fk ? [{ columns: ['parent'], refTable: fk, refColumns: ['id'] }] : [],
} as unknown as TableSchema);
const catalogue = new Map([['items', table('items')], ['moves', table('moves', 'items')]]);
const h = (n: number): string => `${String(n).padStart(15, '0')}-00000000-hub`;

test('a restated parent delete is applied after the deletes of its children that precede it in the page', () => {
  const page: Change[] = [
    { table: 'moves', pk: ['m1'], op: 'D', hlc: h(1) },
    { table: 'items', pk: ['i1'], op: 'D', hlc: h(2) },
    { table: 'items', pk: ['i1'], op: 'D', hlc: h(2), restate: true },
  ];
  const { changes, adopt } = foldRestatements(page, catalogue, () => true);
  assert.deepEqual(changes.map((c) => [c.table, c.op, c.restate ?? false]), [['moves', 'D', false], ['items', 'D', true]]);
  assert.equal(adopt.size, 1);
  const order = planApply(changes, [...catalogue.values()]);
  assert.deepEqual(order.map((c) => c.table), ['moves', 'items'], 'children first');
});

test('what follows a restatement in the page resolves onto it: a newer re-insert after a restated delete leaves the row', () => {
  const page: Change[] = [
    { table: 'items', pk: ['i1'], op: 'D', hlc: h(5), restate: true },
    { table: 'items', pk: ['i1'], op: 'I', hlc: h(6), cols: { id: 'i1', v: 'again' } },
    { table: 'items', pk: ['i1'], op: 'U', hlc: h(4), cols: { v: 'older, loses' } },
  ];
  const { changes, adopt } = foldRestatements(page, catalogue, () => true);
  assert.equal(changes.length, 1);
  assert.deepEqual({ ...changes[0]! }, { table: 'items', pk: ['i1'], op: 'I', hlc: h(6), cols: { id: 'i1', v: 'again' }, restate: true });
  assert.ok(adopt.has(changes[0]!));
});

test('entries before a restatement are superseded; a newer column update after it keeps its own stamp', () => {
  const page: Change[] = [
    { table: 'items', pk: ['i1'], op: 'U', hlc: h(1), cols: { v: 'superseded' } },
    { table: 'items', pk: ['i1'], op: 'I', hlc: h(3), cols: { id: 'i1', v: 'hub state' }, restate: true },
    { table: 'items', pk: ['i1'], op: 'U', hlc: h(7), cols: { v: 'newer' } },
  ];
  const [c] = foldRestatements(page, catalogue, () => true).changes;
  assert.deepEqual([c!.op, c!.hlc, c!.cols, c!.colHlc], ['I', h(3), { id: 'i1', v: 'newer' }, { v: h(7) }]);
});

test('a row with local changes not pushed is not adopted: its entries resolve as usual', () => {
  const page: Change[] = [
    { table: 'items', pk: ['i1'], op: 'U', hlc: h(1), cols: { v: 'x' } },
    { table: 'items', pk: ['i1'], op: 'I', hlc: h(3), cols: { id: 'i1', v: 'hub' }, restate: true },
  ];
  const { changes, adopt } = foldRestatements(page, catalogue, () => false);
  assert.deepEqual(changes, page);
  assert.equal(adopt.size, 0);
});
