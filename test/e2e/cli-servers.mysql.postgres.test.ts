import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../helpers/fixtures.ts';
import { freePort, outpost, startHubProcess } from '../helpers/cli.ts';
import { canonicalRows } from '../helpers/replicas.ts';
import { dropServerDatabase, MYSQL_ROOT, POSTGRES_ROOT, uniqueName, type ServerDialect } from '../helpers/server-db.ts';
import { openAdapter } from '../../src/adapters/open.ts';

/**
 * The core acceptance scenario with the real CLI and the databases' own
 * shells (mariadb, psql, sqlite3): a MariaDB hub with a MariaDB lab and a
 * SQLite lab, then a PostgreSQL hub with a PostgreSQL lab and a SQLite lab.
 */
/** Run SQL the way a person or an app would, with the database's own shell. */
function shell(url: string, cwd: string, sql: string): void {
  const u = url.startsWith('sqlite:') ? null : new URL(url);
  const r = !u
    ? spawnSync('sqlite3', ['-bail', '-cmd', '.timeout 5000', join(cwd, url.slice('sqlite:'.length))], { input: sql, encoding: 'utf8' })
    : u.protocol === 'mysql:'
      ? spawnSync('mariadb', ['-h', u.hostname, '-P', u.port || '3306', '-u', u.username || 'root', '--default-character-set=utf8mb4', u.pathname.slice(1)], { input: sql, encoding: 'utf8' })
      : spawnSync('psql', ['-v', 'ON_ERROR_STOP=1', '-q', url], { input: sql, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${r.stderr}${r.error ?? ''}`);
}

async function rows(url: string, cwd: string, table: string): Promise<unknown[]> {
  const db = await openAdapter(url.startsWith('sqlite:') ? `sqlite:${join(cwd, url.slice(7))}` : url, { mustExist: true });
  try {
    return await canonicalRows(db, table);
  } finally {
    await db.close();
  }
}

for (const dialect of ['mysql', 'postgres'] as ServerDialect[]) {
  test(`the acceptance scenario with the CLI: a ${dialect} hub, a ${dialect} lab and a SQLite lab converge`, async (t) => {
    const dir = tempDir(t);
    const root = dialect === 'mysql' ? MYSQL_ROOT : POSTGRES_ROOT;
    const names = { hub: uniqueName('oims_hub'), a: uniqueName('oims_lab_a') };
    t.after(async () => {
      for (const n of Object.values(names)) await dropServerDatabase(dialect, n);
    });
    const hubUrl = `${root}/${names.hub}`;
    const labs = { 'lab-a': `${root}/${names.a}`, 'lab-b': 'sqlite:lab-b.db' };
    const port = await freePort();
    // An empty database with the example config starts with the example schema.
    const hub = await startHubProcess(dir, ['--db', hubUrl, '--port', String(port)]);
    t.after(() => hub.kill('SIGTERM'));
    const url = `http://127.0.0.1:${port}`;
    for (const [lab, db] of Object.entries(labs)) {
      const code = outpost(dir, ['node', 'add', lab, '--db', hubUrl]);
      assert.equal(code.code, 0, code.stderr);
      const j = outpost(dir, ['join', '--hub', url, '--code', code.stdout.trim(), '--db', db]);
      assert.equal(j.code, 0, j.stderr);
      assert.match(j.stdout, new RegExp(`joined .* as ${lab} .*snapshot 7 rows`));
    }

    const ID = '5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f';
    shell(labs['lab-a'], dir, `INSERT INTO items (id, lab_id, category_id, name, serial_number, quantity, unit_price, notes) VALUES ('${ID}', 'lab-a', 'glassware', 'Erlenmeyer flask 500 ml ⚗️ – Ünïcødé', NULL, 24, 7.25, NULL);`);
    const s1 = outpost(dir, ['sync', '--db', labs['lab-a']]);
    assert.equal(s1.code, 0, s1.stderr);
    assert.match(s1.stdout, /^synced: pushed 1, pulled 0, conflicts 0, \d+ ms\n$/);
    const s2 = outpost(dir, ['sync', '--db', labs['lab-b'], '--json']);
    assert.equal(s2.code, 0, s2.stderr);
    assert.deepEqual((({ pushed, pulled }) => [pushed, pulled])(JSON.parse(s2.stdout) as { pushed: number; pulled: number }), [0, 1]);

    shell(labs['lab-b'], dir, `UPDATE items SET quantity = 20, notes = '检查 ✓', serial_number = 'SN-7' WHERE id = '${ID}';`);
    shell(hubUrl, dir, "INSERT INTO items (id, lab_id, name, quantity) VALUES ('a0000000-0000-4000-8000-000000000001', 'lab-c', 'written by the website', 3); INSERT INTO items (id, lab_id, name, quantity) VALUES ('a0000000-0000-4000-8000-000000000002', 'lab-c', 'deleted by the website', 1);");
    for (const lab of ['lab-b', 'lab-a'] as const) assert.equal(outpost(dir, ['sync', '--db', labs[lab]]).code, 0);
    shell(labs['lab-a'], dir, `UPDATE items SET unit_price = NULL WHERE id = '${ID}';`);
    shell(hubUrl, dir, "DELETE FROM items WHERE id = 'a0000000-0000-4000-8000-000000000002';");
    for (const lab of ['lab-a', 'lab-b', 'lab-a'] as const) assert.equal(outpost(dir, ['sync', '--db', labs[lab]]).code, 0);

    const hubItems = (await rows(hubUrl, dir, 'items')) as { id: string; notes: string; unit_price: unknown; quantity: number; name: string }[];
    assert.deepEqual(hubItems.map((r) => [r.id, r.quantity, r.notes, r.unit_price]), [[ID, 20, '检查 ✓', null], ['a0000000-0000-4000-8000-000000000001', 3, null, null]]);
    assert.equal(hubItems[0]!.name, 'Erlenmeyer flask 500 ml ⚗️ – Ünïcødé');
    for (const lab of ['lab-a', 'lab-b'] as const) {
      for (const table of ['items', 'labs', 'categories']) assert.deepEqual(await rows(labs[lab], dir, table), await rows(hubUrl, dir, table), `${lab} ${table} converged`);
    }
    assert.throws(() => shell(labs['lab-a'], dir, "INSERT INTO labs (id, name) VALUES ('x', 'y');"), /read-only on this node \(direction down\)/);

    const ns = outpost(dir, ['status', '--db', labs['lab-a'], '--json']);
    assert.equal(ns.code, 0, ns.stderr);
    assert.deepEqual((({ nodeName, pending }) => [nodeName, pending])(JSON.parse(ns.stdout) as { nodeName: string; pending: number }), ['lab-a', 0]);
    const hs = outpost(dir, ['status', '--db', hubUrl]);
    assert.equal(hs.code, 0, hs.stderr);
    assert.match(hs.stdout, /lab-a\s+joined\s+lag/);
    const missing = outpost(dir, ['sync', '--db', `${root}/${uniqueName('typo')}`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no database .*\[DB_URL_INVALID\]/);
  });
}
