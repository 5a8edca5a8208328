import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoggedEntries, NOTICE_MAX_KEYS } from '../../src/hub/commit-notice.ts';
import type { Change } from '../../src/protocol/index.ts';

const change = (table: string, i: number): Change => ({ table, pk: [i], op: 'I', hlc: `h${i}`, cols: { id: i, notes: 'x'.repeat(100) } });

test('a small commit is told with every key, in log order', () => {
  const l = new LoggedEntries();
  for (let i = 0; i < NOTICE_MAX_KEYS; i++) l.add({ change: change(i % 2 ? 'a' : 'b', i), origin: i % 3 ? 'n1' : null });
  assert.equal(l.count, NOTICE_MAX_KEYS);
  assert.deepEqual([...l.tables].sort(), ['a', 'b']);
  const e = l.entries();
  assert.equal(e.length, NOTICE_MAX_KEYS);
  assert.deepEqual(e[5], { table: 'a', origin: 'n1', pk: [5] });
  assert.ok(e.every((r) => !('cols' in r)), 'no values kept');
});

test('a large commit is summarised per table, origin and scope mark, without keys or values', () => {
  const l = new LoggedEntries();
  const n = 10 * NOTICE_MAX_KEYS + 3;
  for (let i = 0; i < n; i++) l.add({ change: change(i % 2 ? 'a' : 'b', i), origin: i % 3 ? 'n1' : null, ...(i % 5 === 0 ? { scope: { a: { lab_id: 'lab-a' } } } : {}) });
  assert.equal(l.count, n);
  const e = l.entries();
  assert.equal(e.length, 2 * 2 * 2, 'tables x origins x (scoped or not)');
  assert.ok(e.every((r) => r.pk === undefined && !('cols' in r)));
  assert.ok(e.some((r) => r.table === 'a' && r.origin === null && r.scope !== undefined));
});
