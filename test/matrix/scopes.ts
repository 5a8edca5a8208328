import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadHubConfig } from '../../src/hub/config.ts';
import { setNodeAttrs } from '../../src/hub/enrollment.ts';
import { ROOT, tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type DialectName } from '../helpers/replicas.ts';

const SCOPED = loadHubConfig(join(ROOT, 'examples/oims/outpost.scoped.config.json'));

/**
 * Scopes on a hub of one dialect with labs of others: each lab holds exactly
 * the hub's items of its lab, through inserts, moves between labs, deletes,
 * a refused move out of scope, and a change of a lab's attributes.
 */
export function scopeScenarios(hubDialect: DialectName, labDialects: [DialectName, DialectName]): void {
  test(`scopes: ${hubDialect} hub, ${labDialects.join(' and ')} labs`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir, { config: SCOPED });
    const ins = (id: string, lab: string, name: string) => hub.web.run('INSERT INTO items (id, lab_id, name, quantity) VALUES (?, ?, ?, 1)', id, lab, name);
    await ins('a-1', 'lab-a', 'beaker');
    await ins('b-1', 'lab-b', 'flask');
    await ins('c-1', 'lab-c', 'prism');
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a', { attrs: { lab_id: 'lab-a' } });
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b', { attrs: { lab_id: 'lab-b' } });
    const expect = async () => {
      const all = await canonicalRows(hub.db, 'items');
      for (const [lab, labId] of [[a, 'lab-a'], [b, 'lab-b']] as const) {
        await lab.agent.sync();
        assert.deepEqual(await canonicalRows(lab.db, 'items'), all.filter((r) => r.lab_id === labId), `${lab.name} holds its lab's items`);
      }
    };
    await a.agent.sync();
    await b.agent.sync();
    await expect();
    await hub.web.run("UPDATE items SET lab_id = 'lab-a' WHERE id = 'b-1'");
    await hub.web.run("UPDATE items SET lab_id = 'lab-b' WHERE id = 'c-1'");
    await hub.web.run("DELETE FROM items WHERE id = 'a-1'");
    await b.app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES ('b-2', 'lab-b', 'tube', 4)");
    await b.agent.sync();
    await expect();
    // Lab A moves a row to lab B: refused, the row stays in lab A everywhere.
    await a.app.run("UPDATE items SET lab_id = 'lab-b', name = 'moved?' WHERE id = 'b-1'");
    const s = await a.agent.sync();
    assert.equal(s.quarantined, 1);
    await expect();
    assert.deepEqual((await canonicalRows(hub.db, 'items')).find((r) => r.id === 'b-1')?.lab_id, 'lab-a');
    // Lab B becomes lab C's machine: a fresh snapshot of its new scope.
    await setNodeAttrs(hub.db, 'lab-b', { lab_id: 'lab-c' });
    await hub.web.run("UPDATE items SET lab_id = 'lab-c' WHERE id = 'b-2'");
    await b.agent.sync();
    assert.deepEqual((await canonicalRows(b.db, 'items')).map((r) => r.id), ['b-2']);
  });
}
