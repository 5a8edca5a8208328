import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BIN, SOURCE_BIN, outpost, freePort, startHubProcess } from '../helpers/cli.ts';
import { tempDir, rowsOf, OIMS_SCHEMA, OIMS_CONFIG } from '../helpers/fixtures.ts';

const HAVE_SQLITE3 = spawnSync('sqlite3', ['-version']).status === 0;

/** The lab app / website writing its own database: the sqlite3 shell where installed (as in the README), else the same SQL through better-sqlite3. */
function shell(path: string, sql: string): void {
  if (HAVE_SQLITE3) {
    const r = spawnSync('sqlite3', ['-bail', '-cmd', '.timeout 5000', path], { input: sql, encoding: 'utf8' });
    if (r.status !== 0 || r.stderr) throw new Error(r.stderr);
    return;
  }
  const db = new Database(path);
  db.exec(sql);
  db.close();
}


test('the README acceptance scenario, with the real CLI and the sqlite3 shell', async (t) => {
  const dir = tempDir(t);
  shell(join(dir, 'hub.db'), readFileSync(OIMS_SCHEMA, 'utf8'));
  const port = await freePort();
  const hub = await startHubProcess(dir, ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG]);
  t.after(() => hub.kill('SIGTERM'));
  const url = `http://127.0.0.1:${port}`;

  const addA = outpost(dir, ['node', 'add', 'lab-a', '--db', 'sqlite:hub.db']);
  assert.equal(addA.code, 0, addA.stderr);
  assert.match(addA.stdout, /^[0-9a-f]{6}(-[0-9a-f]{6}){3}\n$/, 'node add prints the code and nothing else');
  const codeB = outpost(dir, ['node', 'add', 'lab-b', '--db', 'sqlite:hub.db']).stdout.trim();

  for (const [code, lab] of [[addA.stdout.trim(), 'lab-a'], [codeB, 'lab-b']]) {
    const j = outpost(dir, ['join', '--hub', url, '--code', code!, '--db', `sqlite:${lab}.db`]);
    assert.equal(j.code, 0, j.stderr);
    assert.match(j.stdout, new RegExp(`joined .* as ${lab} .*snapshot 7 rows`));
  }
  // A name whose node joined cannot be added again (one that never joined gets a new code: test/e2e/credentials.test.ts).
  const dup = outpost(dir, ['node', 'add', 'lab-a', '--db', 'sqlite:hub.db']);
  assert.equal(dup.code, 2);
  assert.match(dup.stderr, /a node named lab-a exists already \[NODE_EXISTS\]/);
  const reused = outpost(dir, ['join', '--hub', url, '--code', addA.stdout.trim(), '--db', 'sqlite:lab-x.db']);
  assert.equal(reused.code, 2);
  assert.match(reused.stderr, /\[ENROLLMENT_CODE_INVALID\]/);

  // The lab app writes its own table: an insert with NULLs and Unicode.
  shell(join(dir, 'lab-a.db'), "INSERT INTO items (id, lab_id, category_id, name, serial_number, quantity, unit_price, notes) VALUES ('5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f', 'lab-a', 'glassware', 'Erlenmeyer flask 500 ml ⚗️ – Ünïcødé', NULL, 24, 7.25, NULL);");
  const s1 = outpost(dir, ['sync', '--db', 'sqlite:lab-a.db']);
  assert.equal(s1.code, 0, s1.stderr);
  assert.match(s1.stdout, /^synced: pushed 1, pulled 0, conflicts 0, \d+ ms\n$/);
  const s2 = outpost(dir, ['sync', '--db', 'sqlite:lab-b.db', '--json']);
  assert.equal(s2.code, 0, s2.stderr);
  const summary = JSON.parse(s2.stdout) as { ok: boolean; pushed: number; pulled: number; conflicts: number; durationMs: number };
  assert.deepEqual([summary.ok, summary.pushed, summary.pulled, summary.conflicts], [true, 0, 1, 0]);
  assert.deepEqual(rowsOf(join(dir, 'lab-b.db'), 'items'), rowsOf(join(dir, 'lab-a.db'), 'items'));

  // Updates, deletes, NULLs, and rows written on the hub by the website.
  shell(join(dir, 'lab-b.db'), "UPDATE items SET quantity = 20, notes = '检查 ✓', serial_number = 'SN-7' WHERE id = '5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f';");
  shell(join(dir, 'hub.db'), "INSERT INTO items (id, lab_id, name, quantity) VALUES ('a0000000-0000-4000-8000-000000000001', 'lab-c', 'written by the website', 3); INSERT INTO items (id, lab_id, name, quantity) VALUES ('a0000000-0000-4000-8000-000000000002', 'lab-c', 'deleted by the website', 1);");
  for (const lab of ['lab-b', 'lab-a']) assert.equal(outpost(dir, ['sync', '--db', `sqlite:${lab}.db`]).code, 0);
  shell(join(dir, 'lab-a.db'), "UPDATE items SET unit_price = NULL WHERE id = '5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f';");
  shell(join(dir, 'hub.db'), "DELETE FROM items WHERE id = 'a0000000-0000-4000-8000-000000000002';");
  for (const lab of ['lab-a', 'lab-b', 'lab-a']) assert.equal(outpost(dir, ['sync', '--db', `sqlite:${lab}.db`]).code, 0);
  const hubItems = rowsOf(join(dir, 'hub.db'), 'items') as { id: string; quantity: number; notes: string; unit_price: number | null; serial_number: string }[];
  assert.equal(hubItems.length, 2);
  assert.equal(hubItems[0]!.notes, '检查 ✓');
  assert.equal(hubItems[0]!.unit_price, null);
  for (const lab of ['lab-a', 'lab-b']) assert.deepEqual(rowsOf(join(dir, `${lab}.db`), 'items'), hubItems, `${lab} converged`);

  // A down table refuses the lab app's write at once.
  assert.throws(() => shell(join(dir, 'lab-a.db'), "INSERT INTO labs (id, name) VALUES ('x', 'y');"), /read-only on this node \(direction down\)/);

  // status, for people and for machines.
  const ns = outpost(dir, ['status', '--db', 'sqlite:lab-a.db', '--json']);
  assert.equal(ns.code, 0, ns.stderr);
  const node = JSON.parse(ns.stdout) as { role: string; nodeName: string; pending: number; lastSyncAt: string | null; cursor: number };
  assert.deepEqual([node.role, node.nodeName, node.pending], ['node', 'lab-a', 0]);
  assert.ok(node.lastSyncAt && node.cursor > 0);
  const hs = outpost(dir, ['status', '--db', 'sqlite:hub.db']);
  assert.equal(hs.code, 0, hs.stderr);
  assert.match(hs.stdout, /lab-a\s+joined\s+lag/);
  assert.match(hs.stdout, /lab-b\s+joined\s+lag/);

  // Failures exit non-zero with a clear message.
  hub.kill('SIGTERM');
  await new Promise((r) => hub.once('exit', r));
  const down = outpost(dir, ['sync', '--db', 'sqlite:lab-a.db']);
  assert.equal(down.code, 3);
  assert.match(down.stderr, /^outpost: cannot reach the hub at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \[HUB_UNREACHABLE\]\n$/);
  const missing = outpost(dir, ['sync', '--db', 'sqlite:typo.db', '--json']);
  assert.equal((JSON.parse(missing.stdout) as { code: string; message: string }).message, 'no database at typo.db');
  assert.equal(existsSync(join(dir, 'typo.db')), false, 'a mistyped path creates no database');
  new Database(join(dir, 'fresh.db')).close();
  const notJoined = outpost(dir, ['sync', '--db', 'sqlite:fresh.db', '--json']);
  assert.notEqual(notJoined.code, 0);
  assert.equal((JSON.parse(notJoined.stdout) as { code: string }).code, 'NOT_ENROLLED');
  const badInterval = outpost(dir, ['run', '--db', 'sqlite:lab-a.db', '--interval', 'soon']);
  assert.equal(badInterval.code, 2);
  assert.match(badInterval.stderr, /--interval.*'soon' is invalid\. expected a positive number of seconds/);
  assert.equal(outpost(dir, ['sync']).code, 2, 'a missing --db is refused');
  assert.equal(outpost(dir, ['--version']).code, 0);
  const badUrl = outpost(dir, ['sync', '--db', 'oracle://x']);
  assert.equal(badUrl.code, 1);
  assert.match(badUrl.stderr, /unknown database scheme "oracle" .*\[DB_URL_INVALID\]/);
});

test('npm start: the hub starts on the embedded default with the example schema', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  // bin/outpost.js itself, as `npm start` runs it (the other tests may run the compiled build)
  const hub = await startHubProcess(dir, ['--port', String(port)], undefined, SOURCE_BIN);
  t.after(() => hub.kill('SIGTERM'));
  const info = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { tables: { name: string }[] };
  const second = outpost(dir, ['hub', '--port', String(port)]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE: another hub may be running there\).*\[PORT_UNAVAILABLE\]/);
  assert.deepEqual(info.tables.map((x) => x.name).sort(), ['categories', 'items', 'labs', 'stock_movements']);
  const add = outpost(dir, ['node', 'add', 'lab-a']);
  assert.equal(add.code, 0, add.stderr);
  const j = outpost(dir, ['join', '--hub', `http://127.0.0.1:${port}`, '--code', add.stdout.trim(), '--db', 'sqlite:lab-a.db']);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(rowsOf(join(dir, 'lab-a.db'), 'labs').length, 3);
});

test('outpost run keeps syncing, reports failures while the hub is down, resumes, and stops cleanly on SIGTERM', async (t) => {
  const dir = tempDir(t);
  shell(join(dir, 'hub.db'), readFileSync(OIMS_SCHEMA, 'utf8'));
  const port = await freePort();
  const args = ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG];
  let hub = await startHubProcess(dir, args);
  t.after(() => hub.kill('SIGKILL'));
  const code = outpost(dir, ['node', 'add', 'lab-a', '--db', 'sqlite:hub.db']).stdout.trim();
  assert.equal(outpost(dir, ['join', '--hub', `http://127.0.0.1:${port}`, '--code', code, '--db', 'sqlite:lab-a.db']).code, 0);

  const run = spawn(process.execPath, [BIN, 'run', '--db', 'sqlite:lab-a.db', '--interval', '0.2', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => run.kill('SIGKILL'));
  const lines: { ok: boolean; pushed?: number; retryInMs?: number; message?: string }[] = [];
  let buf = '';
  run.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  run.stderr!.resume();
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ok(), `timed out waiting for ${what}; lines: ${JSON.stringify(lines.slice(-5))}`);
  };
  shell(join(dir, 'lab-a.db'), "INSERT INTO items (id, lab_id, name, quantity) VALUES ('00000000-0000-4000-8000-000000000001', 'lab-a', 'one', 1);");
  await until('the first row at the hub', () => rowsOf(join(dir, 'hub.db'), 'items').length === 1);

  hub.kill('SIGTERM');
  await new Promise((r) => hub.once('exit', r));
  shell(join(dir, 'lab-a.db'), "INSERT INTO items (id, lab_id, name, quantity) VALUES ('00000000-0000-4000-8000-000000000002', 'lab-a', 'two, written offline', 2);");
  await until('failed tries while the hub is down', () => lines.filter((l) => !l.ok).length >= 2);
  // A try that reached the hub while it was shutting down got its 503; the ones after found it gone.
  const failures = lines.filter((l) => !l.ok);
  for (const f of failures) assert.match(f.message ?? '', /cannot reach the hub|HTTP 503/);
  const failure = failures.find((l) => /cannot reach the hub/.test(l.message ?? ''));
  assert.ok(failure, `a try found the hub gone: ${JSON.stringify(failures)}`);
  assert.ok((failure.retryInMs ?? 0) > 0);

  hub = await startHubProcess(dir, args);
  await until('the offline row at the hub', () => rowsOf(join(dir, 'hub.db'), 'items').length === 2);
  run.kill('SIGTERM');
  const exit = await new Promise<number | null>((r) => run.once('exit', r));
  assert.equal(exit, 0);
  assert.deepEqual(rowsOf(join(dir, 'lab-a.db'), 'items'), rowsOf(join(dir, 'hub.db'), 'items'));
});

test('outpost schema refresh picks up a nullable column added on the hub, and refuses other changes plainly', async (t) => {
  const dir = tempDir(t);
  shell(join(dir, 'hub.db'), readFileSync(OIMS_SCHEMA, 'utf8'));
  const first = outpost(dir, ['schema', 'refresh', '--db', 'sqlite:hub.db', '--config', OIMS_CONFIG, '--json']);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(JSON.parse(first.stdout).added, []);
  shell(join(dir, 'hub.db'), 'ALTER TABLE items ADD COLUMN color TEXT;');
  const second = outpost(dir, ['schema', 'refresh', '--db', 'sqlite:hub.db', '--config', OIMS_CONFIG]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /added items\.color/);
  shell(join(dir, 'hub.db'), 'ALTER TABLE items ADD COLUMN size TEXT NOT NULL DEFAULT \'m\';');
  const third = outpost(dir, ['schema', 'refresh', '--db', 'sqlite:hub.db', '--config', OIMS_CONFIG]);
  assert.notEqual(third.code, 0);
  assert.match(third.stderr, /size are NOT NULL; add them as nullable/);
});
