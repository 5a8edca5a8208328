import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitPages } from '../../src/node/push.ts';
import type { Change } from '../../src/protocol/index.ts';

const change = (notes: string, i: number): Change => ({ table: 'items', pk: [String(i)], op: 'U', hlc: '000000000000001-00000000-n', cols: { notes } });

test('push pages keep every change, in order, within the count and byte bounds', () => {
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 3000 }), { maxLength: 60 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 200, max: 5000 }), (sizes, count, bytes) => {
      const changes = sizes.map((n, i) => change((i % 2 ? 'x' : 'ü').repeat(n), i));
      const pages = splitPages(changes, count, bytes);
      assert.deepEqual(pages.flat(), changes, 'nothing lost, nothing reordered');
      assert.ok(pages.length >= 1);
      for (const p of pages) {
        assert.ok(p.length <= count);
        const size = p.reduce((s, c) => s + Buffer.byteLength(JSON.stringify(c)), 0);
        assert.ok(p.length === 1 || size <= bytes, 'a page is over the byte bound only when it holds one large change');
      }
    }),
  );
  assert.deepEqual(splitPages([], 10, 100), [[]], 'an empty group is one empty page (it still acknowledges the captured rows)');
});
