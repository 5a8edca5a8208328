import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { OIMS_CONFIG, oimsDatabase, rowsOf, tempDir } from '../helpers/fixtures.ts';
import { BIN, freePort, outpost, startHubProcess } from '../helpers/cli.ts';

test('outpost run --every --control-port: POST /sync moves a row, GET /status equals `outpost status --json`, SIGTERM exits 0', async (t) => {
  const dir = tempDir(t);
  oimsDatabase(join(dir, 'hub.db'));
  const port = await freePort();
  const hub = await startHubProcess(dir, ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG]);
  t.after(() => hub.kill('SIGKILL'));
  for (const lab of ['lab-a', 'lab-b']) {
    const code = outpost(dir, ['node', 'add', lab, '--db', 'sqlite:hub.db']).stdout.trim();
    assert.equal(outpost(dir, ['join', '--hub', `http://127.0.0.1:${port}`, '--code', code, '--db', `sqlite:${lab}.db`]).code, 0);
  }

  // refused flags: two schedules; a cron that only fires in quiet hours; a bad time zone
  for (const bad of [['--every', '5m', '--cron', '* * * * *'], ['--cron', '0 23 * * *', '--quiet-hours', '22:00-06:00', '--time-zone', 'UTC'], ['--every', '5m', '--time-zone', 'Nowhere/Land', '--quiet-hours', '01:00-02:00'], ['--every', 'soon']]) {
    const r = outpost(dir, ['run', '--db', 'sqlite:lab-a.db', ...bad]);
    assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /\[BAD_REQUEST\]/);
  }

  const controlPort = await freePort();
  const run = spawn(process.execPath, [BIN, 'run', '--db', 'sqlite:lab-a.db', '--every', '1h', '--no-live', '--control-port', String(controlPort), '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => run.kill('SIGKILL'));
  let err = '';
  let out = '';
  run.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`run did not start: ${err}`)), 30_000);
    run.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('every 1h')) (clearTimeout(timer), resolve());
    });
  });
  assert.match(err, new RegExp(`control endpoint on http://127\\.0\\.0\\.1:${controlPort}`));
  const base = `http://127.0.0.1:${controlPort}`;
  // (--no-live: scheduled syncs only, so that nothing but this test starts one; live mode has its own tests)
  // the first scheduled sync runs at once
  for (let i = 0; i < 100 && !out.includes('"ok":true'); i++) await new Promise((r) => setTimeout(r, 100));

  const app = new Database(join(dir, 'lab-a.db'));
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('7c000000-0000-4000-8000-000000000001', 'lab-a', 'pipette', 2)").run();
  app.close();
  const pending = (await (await fetch(`${base}/status`)).json()) as { pending: number; state: string; nextSyncAt: string | null };
  assert.equal(pending.pending, 1);
  assert.equal(pending.state, 'idle');
  assert.ok(pending.nextSyncAt && Date.parse(pending.nextSyncAt) > Date.now() + 50 * 60_000, `next sync in about an hour: ${pending.nextSyncAt}`);

  const res = await fetch(`${base}/sync`, { method: 'POST' });
  assert.equal(res.status, 200);
  const summary = (await res.json()) as { ok: boolean; pushed: number };
  assert.deepEqual([summary.ok, summary.pushed], [true, 1]);
  assert.equal(outpost(dir, ['sync', '--db', 'sqlite:lab-b.db']).code, 0);
  assert.deepEqual(rowsOf(join(dir, 'lab-b.db'), 'items').map((r) => r.name), ['pipette']);

  // one object, whichever way it is asked for
  const fromHttp = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
  const cli = outpost(dir, ['status', '--db', 'sqlite:lab-a.db', '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout), fromHttp);
  assert.equal(fromHttp.state, 'idle');
  assert.equal(fromHttp.pending, 0);
  assert.equal(fromHttp.role, 'node');
  assert.match(outpost(dir, ['status', '--db', 'sqlite:lab-a.db']).stdout, /state: idle.*next sync: /);

  const exit = once(run, 'exit');
  run.kill('SIGTERM');
  assert.equal(((await exit) as [number | null])[0], 0);
  const after = JSON.parse(outpost(dir, ['status', '--db', 'sqlite:lab-a.db', '--json']).stdout) as { nextSyncAt: string | null; state: string };
  assert.equal(after.nextSyncAt, null, 'a stopped run has no next sync');
  assert.equal(after.state, 'idle');
  await assert.rejects(fetch(`${base}/status`), 'the control endpoint is closed');
});
