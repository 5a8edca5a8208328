import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { OIMS_CONFIG, oimsDatabase, tempDir } from '../helpers/fixtures.ts';
import { canonicalRows } from '../helpers/replicas.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { HubProcess, cannot, faketimeEnv, joinLab, outpostOk, query, skipBecause, type Env } from './processes-kit.ts';

/**
 * Labs whose wall clocks are a day off, as whole processes under libfaketime
 * (the node agent and the lab app, the `sqlite3` shell, alike), against a hub
 * on the real clock. DESIGN: "a lab whose wall clock is a day off still
 * orders its edits correctly after the edits it has received". Skipped, with
 * the reason, where libfaketime or the sqlite3 shell is missing.
 */

const DAY = 24 * 3600 * 1000;

interface Lab { name: string; path: string; env: Env; sql(statement: string): void; sync(): Promise<void> }

test('labs a day ahead and a day behind: edits converge, and an edit made after receiving another wins over it', async (t) => {
  const ahead = faketimeEnv('+24h');
  const behind = faketimeEnv('-24h');
  if ('skip' in ahead) return skipBecause(t, ahead.skip);
  if ('skip' in behind) return skipBecause(t, behind.skip);
  const noShell = cannot('sqlite3', ['-version']);
  if (noShell) return skipBecause(t, `the lab apps write with the sqlite3 shell: ${noShell}`);

  const dir = tempDir(t, 'outpost-skew-');
  const hubPath = oimsDatabase(join(dir, 'hub.db'));
  // The lab runs a day ahead: the hub is told to accept that (its CLOCK_AHEAD bound is tested in test/e2e/clock-ahead.test.ts).
  const config = join(dir, 'outpost.config.json');
  writeFileSync(config, JSON.stringify({ ...(JSON.parse(readFileSync(OIMS_CONFIG, 'utf8')) as object), maxClockAheadSeconds: 2 * 86_400 }));
  const hub = await HubProcess.start(hubPath, { config });
  t.after(() => hub.kill());
  const lab = async (name: string, env: Env): Promise<Lab> => {
    const path = join(dir, `${name}.db`);
    await joinLab(hub, name, path, { env });
    return {
      name, path, env,
      sql(statement) {
        // The lab app, on the same skewed clock: its triggers record when it wrote.
        const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', path, statement], { env: { ...process.env, ...env }, encoding: 'utf8' });
        assert.equal(r.status, 0, `sqlite3 on ${name}: ${r.stderr}`);
      },
      async sync() {
        await outpostOk(['sync', '--db', `sqlite:${path}`, '--json'], { env });
      },
    };
  };
  const a = await lab('lab-ahead', ahead.env);
  const b = await lab('lab-behind', behind.env);
  const qty = (path: string): number => query<{ quantity: number }>(path, "SELECT quantity FROM items WHERE id = 'x'")[0]!.quantity;

  // The lab a day ahead creates the item; its stamps are a day ahead.
  a.sql("INSERT INTO items (id, lab_id, name, quantity) VALUES ('x', 'lab-a', 'flask', 1)");
  await a.sync();
  const stampOf = (origin: string): number => {
    const rows = query<{ hlc: string }>(hubPath, "SELECT l.hlc FROM _outpost_log l JOIN _outpost_nodes n ON n.id = l.origin WHERE n.name = ? ORDER BY l.seq LIMIT 1", origin);
    return Number(rows[0]!.hlc.split('-')[0]);
  };
  const aheadBy = stampOf('lab-ahead') - Date.now();
  console.log(`# lab-ahead's first stamp is ${(aheadBy / 3600_000).toFixed(1)} h ahead of the hub's clock`);
  assert.ok(aheadBy > DAY - 3600_000, 'libfaketime moved the lab\'s clock a day ahead');

  // The lab a day behind receives it, then edits: its edit is later, and wins, although its clock reads two days earlier.
  await b.sync();
  assert.equal(qty(b.path), 1);
  b.sql("UPDATE items SET quantity = 2 WHERE id = 'x'");
  await b.sync();
  assert.equal(qty(hubPath), 2, "the behind lab's later edit wins at the hub");
  await a.sync();
  assert.equal(qty(a.path), 2, "and at the lab ahead");

  // And the other way round: the lab ahead edits after receiving the behind lab's edit.
  a.sql("UPDATE items SET quantity = 3 WHERE id = 'x'");
  await a.sync();
  await b.sync();
  assert.equal(qty(b.path), 3);

  // Concurrent edits of different columns both survive.
  a.sql("UPDATE items SET name = 'flask from ahead' WHERE id = 'x'");
  b.sql("UPDATE items SET notes = 'note from behind' WHERE id = 'x'");
  await b.sync();
  await a.sync();
  await b.sync();

  // The website edits on the hub's own (real) clock after all that: it has seen the labs' stamps, so it wins too.
  const web = new Database(hubPath);
  web.pragma('busy_timeout = 5000');
  web.prepare("UPDATE items SET quantity = 5 WHERE id = 'x'").run();
  web.close();
  await a.sync();
  await b.sync();

  const row = query<{ name: string; notes: string; quantity: number }>(hubPath, "SELECT name, notes, quantity FROM items WHERE id = 'x'")[0]!;
  assert.deepEqual(row, { name: 'flask from ahead', notes: 'note from behind', quantity: 5 });
  const h = await openAdapter(`sqlite:${hubPath}`);
  t.after(() => h.close());
  for (const l of [a, b]) {
    const db = await openAdapter(`sqlite:${l.path}`);
    t.after(() => db.close());
    for (const table of ['labs', 'categories', 'items']) assert.deepEqual(await canonicalRows(db, table), await canonicalRows(h, table), `${l.name}: ${table} equals the hub`);
  }
});
