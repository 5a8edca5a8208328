import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type DialectName } from '../helpers/replicas.ts';

/**
 * A table that references itself (categories with a parent), whose children
 * sort before their parents by key, joined by a lab whose database already
 * has the tables with the app's own foreign keys (on PostgreSQL NOT
 * DEFERRABLE: the check cannot be turned off for the snapshot).
 */
export function selfReference(hubDialect: DialectName, labDialect: DialectName): void {
  test(`self-reference: hub ${hubDialect} × lab ${labDialect} with its own tables: children sorting before their parents arrive by snapshot and by pull`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir);
    // Keys sort child-before-parent: 'a…' references 'z…', three levels deep.
    await hub.web.run("INSERT INTO categories (id, name, parent_id) VALUES ('z-root', 'root', NULL)");
    await hub.web.run("INSERT INTO categories (id, name, parent_id) VALUES ('m-mid', 'mid', 'z-root')");
    await hub.web.run("INSERT INTO categories (id, name, parent_id) VALUES ('a-leaf', 'leaf', 'm-mid')");
    const lab = await joinMatrixLab(t, hub, labDialect, dir, 'lab-a', { existing: true, pageSize: 2 });
    assert.deepEqual(await canonicalRows(lab.db, 'categories'), await canonicalRows(hub.db, 'categories'));
    // The same shape arriving by pull, in one page.
    await hub.web.run("INSERT INTO categories (id, name, parent_id) VALUES ('y-top', 'top', NULL)");
    await hub.web.run("INSERT INTO categories (id, name, parent_id) VALUES ('b-under', 'under', 'y-top')");
    await lab.agent.sync();
    assert.deepEqual(await canonicalRows(lab.db, 'categories'), await canonicalRows(hub.db, 'categories'));
  });
}
