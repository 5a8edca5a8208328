import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type DialectName, type MatrixHub, type MatrixLab } from '../helpers/replicas.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import { buildServer } from '../../src/hub/server.ts';
import type { FastifyInstance } from 'fastify';
import type { HubConfig } from '../../src/hub/config.ts';
import { ID, assertConverged, insertItem, syncAll } from './items.ts';

/**
 * The core end-to-end scenarios over real HTTP, for one pairing of hub
 * dialect and lab dialects. Every cell of the 3 × 3 matrix runs this same
 * suite (test/matrix/*.test.ts).
 */
export function matrixScenarios(hubDialect: DialectName, labDialects: [DialectName, DialectName]): void {
  const pairing = `hub ${hubDialect} × labs ${labDialects[0]}${labDialects[1] === labDialects[0] ? '' : ` + ${labDialects[1]}`}`;

  const setup = async (t: Parameters<typeof tempDir>[0], opts: { setup?: (app: FastifyInstance) => void; config?: Partial<HubConfig> } = {}): Promise<{ hub: MatrixHub; a: MatrixLab; b: MatrixLab; dir: string }> => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir, { setup: opts.setup, config: opts.config });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    return { hub, a, b, dir };
  };

  test(`${pairing}: inserts, updates and deletes on two labs and the website converge, values identical`, async (t) => {
    const { hub, a, b } = await setup(t);
    await insertItem(a, 1, 'lab-a', { notes: 'Ünïcødé ✓ 🧪 “quotes”', unit_price: '12.50' });
    await insertItem(a, 2, 'lab-a', { unit_price: '0.01' });
    await insertItem(b, 3, 'lab-b', { serial_number: null, unit_price: null });
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity, unit_price, notes) VALUES (?, 'lab-c', 'from the website', 5, 99999999.99, 'web')", ID(4));
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.equal((await canonicalRows(hub.db, 'items')).length, 4);

    await b.app.run('UPDATE items SET quantity = quantity - 1, notes = NULL WHERE id = ?', ID(1));
    await a.app.run('DELETE FROM items WHERE id = ?', ID(3));
    await hub.web.run("UPDATE items SET status = 'repair' WHERE id = ?", ID(2));
    await hub.web.run('DELETE FROM items WHERE id = ?', ID(4));
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const rows = await canonicalRows(hub.db, 'items');
    assert.deepEqual(rows.map((r) => r.id), [ID(1), ID(2)]);
    assert.deepEqual([rows[0]!.quantity, rows[0]!.notes, rows[0]!.unit_price, rows[1]!.status], [0, null, '12.50', 'repair']);
    for (const n of [a, b]) assert.equal((await n.agent.status()).pending, 0, 'nothing captured twice (echo suppression)');
  });

  test(`${pairing}: concurrent edits of different columns both survive; the same column resolves the same everywhere`, async (t) => {
    const { hub, a, b } = await setup(t);
    await insertItem(a, 1, 'lab-a');
    await syncAll([a, b]);
    await a.app.run("UPDATE items SET name = 'renamed on A' WHERE id = ?", ID(1));
    await b.app.run("UPDATE items SET status = 'lost', notes = 'B' WHERE id = ?", ID(1));
    await hub.web.run("UPDATE items SET notes = 'website' WHERE id = ?", ID(1));
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const [row] = await canonicalRows(hub.db, 'items');
    assert.deepEqual([row!.name, row!.status], ['renamed on A', 'lost']);
    assert.ok(row!.notes === 'B' || row!.notes === 'website');
  });

  test(`${pairing}: a delete wins over a concurrent update, and a re-inserted key comes back everywhere`, async (t) => {
    const { hub, a, b } = await setup(t);
    await insertItem(a, 1, 'lab-a');
    await insertItem(a, 2, 'lab-a');
    await syncAll([a, b]);
    await a.app.run('DELETE FROM items WHERE id = ?', ID(1));
    await b.app.run('UPDATE items SET quantity = 77 WHERE id = ?', ID(1));
    await b.app.run('DELETE FROM items WHERE id = ?', ID(2));
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.deepEqual((await canonicalRows(hub.db, 'items')).map((r) => r.id), []);
    await insertItem(b, 2, 'lab-b', { name: 'back again' });
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.deepEqual((await canonicalRows(a.db, 'items')).map((r) => r.name), ['back again']);
  });

  test(`${pairing}: directions: down tables flow to labs and refuse lab writes; up tables reach only the hub`, async (t) => {
    const { hub, a, b } = await setup(t);
    await hub.web.run("INSERT INTO labs (id, name, building) VALUES ('lab-d', 'Geology Lab D', 'Annex')");
    await insertItem(a, 1, 'lab-a');
    await a.app.run("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES ('m1', ?, 'lab-a', 3, 'delivery')", ID(1));
    await syncAll([a, b]);
    assert.deepEqual(await canonicalRows(b.db, 'labs'), await canonicalRows(hub.db, 'labs'));
    assert.equal((await canonicalRows(b.db, 'labs')).length, 4);
    assert.equal((await canonicalRows(hub.db, 'stock_movements')).length, 1);
    assert.equal((await canonicalRows(b.db, 'stock_movements')).length, 0);
    await assert.rejects(b.app.run("UPDATE labs SET name = 'mine' WHERE id = 'lab-a'"), /read-only/);
  });

  test(`${pairing}: the website deletes an item with its stock movements while a lab edits it: the hub's restated delete reaches every lab after the movements' deletes (foreign-key order)`, async (t) => {
    // Found by the torture soak: labs on MariaDB (and PostgreSQL's NOT
    // DEFERRABLE keys) refused a pull page whose restated parent delete was
    // applied before the deletes of its children earlier in the page.
    const { hub, a, b } = await setup(t, {
      config: { tables: { labs: { direction: 'down', policy: 'merge' }, categories: { direction: 'down', policy: 'merge' }, items: { direction: 'both', policy: 'merge' }, stock_movements: { direction: 'both', policy: 'merge' } } },
    });
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'with movements', 3)", ID(1));
    for (const m of [1, 2]) await hub.web.run("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES (?, ?, 'lab-a', 1, 'delivery')", `m${m}`, ID(1));
    await syncAll([a, b], 1);
    assert.equal((await canonicalRows(b.db, 'stock_movements')).length, 2);
    // The website removes the item, children first, in one transaction.
    await hub.web.exec('BEGIN');
    await hub.web.run("DELETE FROM stock_movements WHERE item_id = ?", ID(1));
    await hub.web.run('DELETE FROM items WHERE id = ?', ID(1));
    await hub.web.exec('COMMIT');
    // Lab A, not synced since, renames it: its update loses to the delete,
    // and the hub restates the row (deleted) after the website's deletes.
    await a.app.run("UPDATE items SET name = 'renamed offline' WHERE id = ?", ID(1));
    await a.agent.sync();
    await b.agent.sync();
    await assertConverged(hub, [a, b], ['items', 'stock_movements']);
    assert.equal((await canonicalRows(b.db, 'items')).length, 0);
    assert.equal((await hub.hub.status()).conflicts, 1, 'the lost rename is in the conflict log');
  });

  test(`${pairing}: a reply lost after the hub committed, and a hub restart: nothing applied twice, nothing lost`, async (t) => {
    // Twice: the node sends a request once more when its connection dies before the reply.
    let drops = 2;
    const { hub, a, b } = await setup(t, {
      setup: (app) =>
        app.addHook('onSend', async (req, _reply, payload) => {
          if (req.url === '/v1/push' && drops > 0) {
            drops--;
            req.raw.socket.destroy();
          }
          return payload;
        }),
    });
    await insertItem(a, 1, 'lab-a');
    await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'HUB_UNREACHABLE');
    assert.equal((await canonicalRows(hub.db, 'items')).length, 1, 'the hub committed before the reply was lost');
    await a.app.run("UPDATE items SET notes = 'after the cut' WHERE id = ?", ID(1));
    const s = await a.agent.sync();
    assert.equal(s.pushed, 1, 'only the new change is pushed again');
    // The hub process restarts on the same database; labs keep working meanwhile.
    const port = Number(new URL(hub.url).port);
    await hub.app.close();
    await b.app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-b', 'offline', 1)", ID(2));
    await assert.rejects(b.agent.sync(), (e: OutpostError) => e.code === 'HUB_UNREACHABLE');
    const again = await buildServer(hub.hub);
    t.after(() => again.close());
    await again.listen({ host: '127.0.0.1', port });
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.equal((await canonicalRows(hub.db, 'items')).length, 2);
    assert.equal((await hub.hub.status()).conflicts, 0);
  });

  test(`${pairing}: a nullable column added on the hub reaches the labs, and pending lab changes are kept`, async (t) => {
    const { hub, a, b } = await setup(t);
    await insertItem(a, 1, 'lab-a');
    await syncAll([a, b]);
    // Lab A edits offline while the website's schema grows a column and fills it.
    await a.app.run("UPDATE items SET notes = 'pending on A' WHERE id = ?", ID(1));
    await insertItem(a, 2, 'lab-a');
    await hub.web.exec('ALTER TABLE items ADD COLUMN color VARCHAR(20)');
    await hub.web.run("UPDATE items SET color = 'red' WHERE id = ?", ID(1));
    const r = await hub.hub.refreshSchema();
    assert.deepEqual(r.added, ['items.color']);
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const rows = await canonicalRows(hub.db, 'items');
    assert.deepEqual(rows.map((x) => [x.id, x.notes, x.color]), [[ID(1), 'pending on A', 'red'], [ID(2), null, null]]);
    // The new column is captured on the labs too.
    await b.app.run("UPDATE items SET color = 'blue' WHERE id = ?", ID(2));
    await syncAll([b, a]);
    await assertConverged(hub, [a, b]);
    assert.equal((await canonicalRows(a.db, 'items'))[1]!.color, 'blue');
  });

  test(`${pairing}: a lab joining with data keeps it; where the hub has the same row, the hub's wins and the lab's is logged`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir);
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'at the hub', 1)", ID(1));
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'hub version', 1)", ID(2));
    await hub.hub.sequencePending();
    const lab = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b', {
      existing: true,
      before: async (app) => {
        await app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-b', 'in the lab before joining', 4)", ID(3));
        await app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-b', 'lab version', 2)", ID(2));
      },
    });
    await lab.agent.sync();
    const rows = await canonicalRows(hub.db, 'items');
    assert.deepEqual(rows.map((r) => r.name), ['at the hub', 'hub version', 'in the lab before joining']);
    assert.deepEqual(await canonicalRows(lab.db, 'items'), rows);
    assert.ok((await hub.hub.status()).conflicts > 0, "the lab's losing values are in the conflict log");
  });

  test(`${pairing}: a lab provisioned from the hub gets every table with identical values`, async (t) => {
    const { hub, a, b } = await setup(t);
    for (const table of ['labs', 'categories', 'items']) {
      const want = await canonicalRows(hub.db, table);
      assert.deepEqual(await canonicalRows(a.db, table), want, `lab-a ${table}`);
      assert.deepEqual(await canonicalRows(b.db, table), want, `lab-b ${table}`);
    }
    const kinds = async (m: MatrixLab): Promise<string[]> => (await m.db.introspect()).find((x) => x.name === 'items')!.columns.map((c) => `${c.name}:${c.kind}`);
    const hubKinds = (await hub.db.introspect()).find((x) => x.name === 'items')!.columns.map((c) => `${c.name}:${c.kind}`);
    assert.deepEqual(await kinds(a), hubKinds);
    assert.deepEqual(await kinds(b), hubKinds);
  });
}
