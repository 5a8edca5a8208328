import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hubWithLabs, hubApp, rowsOf } from '../helpers/fixtures.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { verifyNode } from '../../src/node/verify.ts';
import type { RowValues } from '../../src/engine/index.ts';

const id = (n: number): string => `0b7c9f0e-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ROWS = 40;

/**
 * For any set of rows changed, deleted or added behind Outpost's back and any
 * bucket count, verify names exactly those rows with the right kind and
 * columns, and after --repair the lab equals the hub and verifies clean.
 */
test('verify names exactly the tampered rows, for any tampering and bucket count; repair restores the hub\'s rows', async (t) => {
  const { hub, labs: [lab] } = await hubWithLabs(t, ['lab-a']);
  const web = hubApp(hub);
  const ins = web.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', ?, ?, ?)");
  for (let i = 0; i < ROWS; i++) ins.run(id(i), `item ${i}`, i, i % 3 ? null : 'n');
  web.close();
  await lab!.agent.sync();
  const items = (await lab!.db.read(readNodeState)).tables.find((x) => x.name === 'items')!;
  let runs = 0;
  const tamper = fc.record({
    touched: fc.uniqueArray(fc.integer({ min: 0, max: ROWS - 1 }), { maxLength: 8 }).chain((rows) =>
      fc.tuple(fc.constant(rows), fc.array(fc.constantFrom('quantity', 'notes', 'both', 'delete'), { minLength: rows.length, maxLength: rows.length }))),
    added: fc.uniqueArray(fc.integer({ min: ROWS, max: ROWS + 100 }), { maxLength: 4 }),
    buckets: fc.constantFrom(1, 2, 5, 16, 64, 256, 4096),
  });
  await fc.assert(fc.asyncProperty(tamper, async ({ touched: [rows, ops], added, buckets }) => {
    const expected: string[] = [];
    await lab!.db.write(async (tx) => {
      for (const [i, row] of rows.entries()) {
        const op = ops[i]!;
        if (op === 'delete') {
          await tx.deleteRow(items, [id(row)]);
          expected.push(`${id(row)} missing-on-node`);
          continue;
        }
        const cols: RowValues = op === 'quantity' ? { quantity: -1 - row } : op === 'notes' ? { notes: `changed ${row}` } : { quantity: -1 - row, notes: `changed ${row}` };
        await tx.updateRow(items, [id(row)], cols);
        expected.push(`${id(row)} values-differ ${Object.keys(cols).join(',')}`);
      }
      for (const n of added) {
        await tx.upsertRow(items, { id: id(n), lab_id: 'lab-a', category_id: null, name: `ghost ${n}`, serial_number: null, quantity: n, unit_price: null, status: 'active', notes: null, updated_at: '2026-01-01T00:00:00.000Z' });
        expected.push(`${id(n)} missing-on-hub`);
      }
    });
    const describe = (r: Awaited<ReturnType<typeof verifyNode>>): string[] => r.tables.flatMap((x) => x.differences).map((d) => `${d.pk[0]} ${d.kind}${d.kind === 'values-differ' ? ` ${d.columns.join(',')}` : ''}`).sort();
    const found = await verifyNode(lab!.agent, { sync: false, buckets });
    assert.deepEqual(describe(found), expected.sort());
    const repaired = await verifyNode(lab!.agent, { sync: false, buckets, repair: true });
    assert.equal(repaired.repaired, expected.length);
    assert.deepEqual(rowsOf(lab!.path, 'items'), rowsOf(hub.dbPath, 'items'));
    assert.equal((await verifyNode(lab!.agent, { sync: false, buckets: 7 })).equal, true);
    runs++;
  }), { numRuns: Number(process.env.OUTPOST_PROPERTY_RUNS ?? 25), endOnFailure: true });
  // Syncing still works after all those repairs.
  await lab!.app.prepare('UPDATE items SET quantity = 1000 WHERE id = ?').run(id(0));
  await lab!.agent.sync();
  assert.deepEqual(rowsOf(lab!.path, 'items'), rowsOf(hub.dbPath, 'items'));
  t.diagnostic(`${runs} random tamperings named exactly and repaired`);
});
