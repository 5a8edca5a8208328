import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pkKey, type TableSchema } from '../../src/protocol/index.ts';
import type { Adapter } from '../../src/adapters/adapter.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { verifyNode, type VerifyReport } from '../../src/node/verify.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type DialectName } from '../helpers/replicas.ts';

const id = (n: number): string => `0b7c9f0e-0000-4000-8000-${String(n).padStart(12, '0')}`;
const [X, Y, Z, W, V, U, G] = [1, 2, 3, 4, 5, 6, 7].map(id) as [string, string, string, string, string, string, string];
/**
 * Category keys that sort differently under a binary collation (SQLite,
 * utf8mb4_bin, PostgreSQL's C) and a linguistic one (utf8mb4_unicode_ci,
 * ICU); the lab later gains 'BETA', equal to 'beta' under a case-insensitive one.
 */
const CATEGORY_KEYS = ['Alpha', 'apple', 'Banana', 'beta', 'Eclair', 'z_b', 'z-b', 'Zeta'];

/** Each difference as one comparable line: table, key, kind, in-flight reason, repaired. */
function lines(r: VerifyReport): string[] {
  return r.tables.flatMap((t) => t.differences.map((d) => `${d.table} ${JSON.stringify(d.pk)} ${d.kind} ${d.inFlight ?? '-'} ${d.repaired ? 'repaired' : '-'}`)).sort();
}

/** A table's rows in canonical form, sorted by canonical key (databases order text keys differently). */
async function sortedRows(db: Adapter, table: string): Promise<string[]> {
  return (await canonicalRows(db, table)).map((r) => JSON.stringify(r)).sort();
}

/**
 * A lab's tables are changed behind Outpost's back (rows written in the
 * adapter's echo-suppressed transaction, as a restored backup or a manual
 * edit with triggers disabled would: nothing is captured, no stamp moves).
 * Verify names exactly those rows, plus the rows legitimately in flight;
 * --repair makes the lab match the hub again and records what it overwrote;
 * a second verify is clean and syncing goes on as before.
 */
export function verifyScenario(hubDialect: DialectName, labDialect: DialectName, opts: { hubSchema?: string; note?: string } = {}): void {
  test(`verify and repair: ${hubDialect} hub${opts.note ? ` (${opts.note})` : ''}, ${labDialect} lab`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-verify-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const hub = await startMatrixHub(t, hubDialect, dir, { schema: opts.hubSchema });
    for (const k of CATEGORY_KEYS) await hub.web.run('INSERT INTO categories (id, name) VALUES (?, ?)', k, `category ${k}`);
    for (const [i, key] of [X, Y, W, V, U].entries()) {
      await hub.web.run('INSERT INTO items (id, lab_id, category_id, name, quantity, unit_price) VALUES (?, ?, ?, ?, ?, ?)', key, 'lab-a', 'glassware', `item ${i}`, i + 1, '2.50');
    }
    const lab = await joinMatrixLab(t, hub, labDialect, dir, 'lab-a');

    const clean = await verifyNode(lab.agent, { sync: false });
    assert.deepEqual(lines(clean), []);
    assert.equal(clean.equal, true);
    const items = clean.tables.find((x) => x.table === 'items')!;
    assert.deepEqual([items.nodeRows, items.hubRows, items.bucketsMismatched, items.rowsCompared], [5, 5, 0, 0], 'equal sums: no row travels');
    assert.match(clean.tables.find((x) => x.table === 'stock_movements')!.skipped ?? '', /direction up/);

    // Behind Outpost's back: nothing captured, no stamp changed.
    const tables = new Map((await lab.db.read(readNodeState)).tables.map((x) => [x.name, x] as [string, TableSchema]));
    const itemsT = tables.get('items')!;
    await lab.db.write(async (tx) => {
      await tx.updateRow(itemsT, [X], { quantity: 999 });
      await tx.deleteRow(itemsT, [Y]);
      await tx.upsertRow(itemsT, { id: Z, lab_id: 'lab-a', category_id: null, name: 'ghost', serial_number: null, quantity: 1, unit_price: null, status: 'active', notes: null, updated_at: '2026-01-01T00:00:00.000Z' });
      await tx.updateRow(tables.get('labs')!, ['lab-b'], { name: 'Tampered Lab B' });
      await tx.updateRow(tables.get('categories')!, ['apple'], { name: 'tampered apple' });
      await tx.deleteRow(tables.get('categories')!, ['Banana']);
      await tx.upsertRow(tables.get('categories')!, { id: 'BETA', name: 'not on the hub', parent_id: null, updated_at: '2026-01-01T00:00:00.000Z' });
      // A parent and its child the hub lacks: the repair deletes the child first.
      await tx.upsertRow(tables.get('categories')!, { id: 'ghost-cat', name: 'ghost parent', parent_id: null, updated_at: '2026-01-01T00:00:00.000Z' });
      await tx.upsertRow(itemsT, { id: G, lab_id: 'lab-a', category_id: 'ghost-cat', name: 'ghost child', serial_number: null, quantity: 2, unit_price: '9.99', status: 'active', notes: null, updated_at: '2026-01-01T00:00:00.000Z' });
    });
    assert.equal((await lab.db.read((tx) => tx.captureStats())).count, 0, 'the tampering was not captured');
    // Legitimately in flight: a local edit not pushed, and a website write the lab has not pulled.
    await lab.app.run('UPDATE items SET notes = ? WHERE id = ?', 'local edit', W);
    await hub.web.run('UPDATE items SET quantity = ? WHERE id = ?', 77, V);

    const expected = [
      `categories ["BETA"] missing-on-hub - -`,
      `categories ["Banana"] missing-on-node - -`,
      `categories ["apple"] values-differ - -`,
      `categories ["ghost-cat"] missing-on-hub - -`,
      `items ${JSON.stringify([G])} missing-on-hub - -`,
      `items ${JSON.stringify([V])} values-differ hub-newer -`,
      `items ${JSON.stringify([W])} values-differ node-pending -`,
      `items ${JSON.stringify([X])} values-differ - -`,
      `items ${JSON.stringify([Y])} missing-on-node - -`,
      `items ${JSON.stringify([Z])} missing-on-hub - -`,
      `labs ["lab-b"] values-differ - -`,
    ].sort();
    for (const buckets of [1, 7, 256]) {
      const r = await verifyNode(lab.agent, { sync: false, buckets });
      assert.deepEqual(lines(r), expected, `${buckets} bucket(s)`);
      assert.deepEqual([r.equal, r.remaining, r.inFlight, r.repaired], [false, 9, 2, 0]);
    }
    const r1 = await verifyNode(lab.agent, { sync: false });
    const diff = (table: string, key: string) => r1.tables.find((x) => x.table === table)!.differences.find((d) => pkKey(d.pk) === pkKey([key]))!;
    assert.deepEqual(diff('items', X).columns, ['quantity']);
    assert.deepEqual([diff('items', X).node!.quantity, diff('items', X).hub!.quantity], [999, 1]);
    assert.deepEqual(diff('labs', 'lab-b').columns, ['name']);
    assert.equal(diff('items', Y).node, null);
    assert.equal(diff('items', Z).hub, null);
    assert.equal(diff('items', W).hub!.notes, null);
    assert.equal(diff('items', W).node!.notes, 'local edit');
    assert.ok(r1.tables.find((x) => x.table === 'items')!.bucketsMismatched <= 6, 'at most one bucket per differing row');
    assert.equal((await lab.app.query<{ quantity: number }>('SELECT quantity FROM items WHERE id = ?', X))[0]!.quantity, 999, 'verify alone changes nothing');

    // Hub wins, except for the rows in flight.
    const repaired = await verifyNode(lab.agent, { sync: false, repair: true, now: () => 1_700_000_000_000 });
    assert.deepEqual(lines(repaired), expected.map((l) => l.replace(/ - -$/, ' - repaired')));
    assert.deepEqual([repaired.equal, repaired.remaining, repaired.inFlight, repaired.repaired], [false, 0, 2, 9]);
    const log = await lab.db.read((tx) => tx.listRepairs({ limit: 100 }));
    assert.equal(log.length, 9);
    const x = log.find((e) => e.table === 'items' && e.pk === pkKey([X]))!;
    assert.equal(x.kind, 'values-differ');
    assert.equal((JSON.parse(x.oldValues!) as { quantity: number }).quantity, 999, 'the overwritten value is recorded');
    assert.equal((JSON.parse(x.newValues!) as { quantity: number }).quantity, 1);
    assert.equal(x.at, 1_700_000_000_000);
    const z = log.find((e) => e.pk === pkKey([Z]))!;
    assert.deepEqual([z.kind, (JSON.parse(z.oldValues!) as { name: string }).name, z.newValues], ['missing-on-hub', 'ghost', null]);
    const y = log.find((e) => e.pk === pkKey([Y]))!;
    assert.deepEqual([y.kind, y.oldValues, y.oldHlc !== null], ['missing-on-node', null, true]);
    assert.equal((await lab.db.read((tx) => tx.captureStats())).count, 1, 'the repair was not captured; the local edit still is');
    assert.deepEqual((await lab.db.read((tx) => tx.listRepairs({ after: log[8]!.id, limit: 10 }))).length, 0);

    // Nothing left but what is in flight; a sync settles that, and a second verify is clean.
    assert.deepEqual(lines(await verifyNode(lab.agent, { sync: false })), expected.filter((l) => / (hub-newer|node-pending) /.test(l)));
    const after = await verifyNode(lab.agent);
    assert.equal(after.synced?.pushed, 1);
    assert.deepEqual(lines(after), []);
    assert.equal(after.equal, true);

    // Syncing goes on: app writes on the lab are captured and pushed, the website's are pulled.
    await lab.app.run('UPDATE items SET quantity = ? WHERE id = ?', 5, X);
    await hub.web.run('UPDATE items SET name = ? WHERE id = ?', 'renamed on the hub', Y);
    await lab.agent.sync();
    assert.equal((await hub.web.query<{ quantity: number }>('SELECT quantity FROM items WHERE id = ?', X))[0]!.quantity, 5);
    assert.equal((await lab.app.query<{ name: string }>('SELECT name FROM items WHERE id = ?', Y))[0]!.name, 'renamed on the hub');
    for (const table of ['labs', 'categories', 'items']) assert.deepEqual(await sortedRows(lab.db, table), await sortedRows(hub.db, table), `${table} converged`);
    assert.equal((await verifyNode(lab.agent, { sync: false })).equal, true);
  });
}
