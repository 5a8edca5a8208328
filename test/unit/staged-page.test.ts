import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change } from '../../src/protocol/index.ts';
import { decodeStagedPages, encodeStagedPage } from '../../src/hub/staged-page.ts';

const page = (n: number, from: number): Change[] =>
  Array.from({ length: n }, (_, i) => ({ table: 'items', pk: [`k-${from + i}`], op: 'I' as const, hlc: `0001733556000000-${String(i).padStart(4, '0')}-n1`, cols: { id: `k-${from + i}`, notes: 'ü'.repeat(i % 7), qty: i } }));

test('staged push pages come back as they were, in page order, and smaller than their JSON', async () => {
  const pages = [page(500, 0), page(3, 500), page(0, 503)];
  const bodies = await Promise.all(pages.map(encodeStagedPage));
  assert.deepEqual(await decodeStagedPages(bodies), pages.flat());
  assert.ok(bodies[0]!.length < JSON.stringify(pages[0]).length / 2, 'compressed');
});

test('a page staged as plain JSON (by a hub before compression) still decodes', async () => {
  const old = page(4, 0);
  const fresh = page(2, 4);
  assert.deepEqual(await decodeStagedPages([JSON.stringify(old), await encodeStagedPage(fresh)]), [...old, ...fresh]);
});
