import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { outpost } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { joinMatrixLab, startMatrixHub } from '../helpers/replicas.ts';

test('outpost quarantine and outpost status with the real CLI, on the hub database and on a node database', async (t) => {
  const dir = tempDir(t);
  const hub = await startMatrixHub(t, 'sqlite', dir);
  const a = await joinMatrixLab(t, hub, 'sqlite', dir, 'lab-a');
  const b = await joinMatrixLab(t, hub, 'sqlite', dir, 'lab-b');
  for (const db of [hub.web, a.app, b.app]) await db.exec('CREATE UNIQUE INDEX items_serial ON items (serial_number)');
  await a.app.run("INSERT INTO items (id, lab_id, name, serial_number) VALUES ('i-a', 'lab-a', 'balance (A)', 'SN-1')");
  await b.app.run("INSERT INTO items (id, lab_id, name, serial_number) VALUES ('i-b', 'lab-b', 'balance (B)', 'SN-1')");
  await a.agent.sync();
  await b.agent.sync();
  const hubDb = `sqlite:${join(dir, 'hub.db')}`;
  const labB = `sqlite:${join(dir, 'lab-b.db')}`;

  // Status, both sides, text and JSON.
  const hs = outpost(dir, ['status', '--db', hubDb]);
  assert.equal(hs.code, 0, hs.stderr);
  assert.match(hs.stdout, /quarantined: 1 change\(s\) the hub database refused/);
  assert.match(hs.stdout, /#1 insert of items \["i-b"\] from lab-b at .*UNIQUE/i);
  const hsj = JSON.parse(outpost(dir, ['status', '--db', hubDb, '--json']).stdout);
  assert.equal(hsj.quarantineOpen, 1);
  assert.deepEqual(hsj.quarantine.map((e: { id: number; pk: unknown[]; originName: string }) => [e.id, e.pk, e.originName]), [[1, ['i-b'], 'lab-b']]);
  const bs = outpost(dir, ['status', '--db', labB]);
  assert.match(bs.stdout, /your insert of items \["i-b"\] was quarantined at the hub \(hub #1\)/);
  assert.match(bs.stdout, /the hub's insert of items \["i-a"\] was quarantined here/);
  const bsj = JSON.parse(outpost(dir, ['status', '--db', labB, '--json']).stdout);
  assert.equal(bsj.quarantine.length, 2);

  // The hub's quarantine.
  const list = JSON.parse(outpost(dir, ['quarantine', 'list', '--db', hubDb, '--json']).stdout);
  assert.deepEqual(list.entries.map((e: { id: number; status: string }) => [e.id, e.status]), [[1, 'open']]);
  const show = outpost(dir, ['quarantine', 'show', '1', '--db', hubDb]);
  assert.match(show.stdout, /"serial_number":"SN-1"/);
  const missing = outpost(dir, ['quarantine', 'show', '99', '--db', hubDb]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /NOT_FOUND/);
  assert.equal(outpost(dir, ['quarantine', 'retry', 'x1', '--db', hubDb]).code, 2);
  const retry = outpost(dir, ['quarantine', 'retry', '1', '--db', hubDb]);
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /#1 was refused again and stays open \(attempts 2\)/);
  const discard = JSON.parse(outpost(dir, ['quarantine', 'discard', '1', '--db', hubDb, '--json']).stdout);
  assert.deepEqual([discard.ok, discard.entry.status, discard.entry.resolvedBy], [true, 'discarded', `cli:${userInfo().username}`]);
  const twice = outpost(dir, ['quarantine', 'discard', '1', '--db', hubDb]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /ALREADY_RESOLVED/);
  assert.equal(JSON.parse(outpost(dir, ['quarantine', 'list', '--db', hubDb, '--json']).stdout).entries.length, 0);
  assert.equal(JSON.parse(outpost(dir, ['quarantine', 'list', '--all', '--db', hubDb, '--json']).stdout).entries.length, 1);
  const audit = (await hub.db.read((tx) => tx.listAudit({ limit: 1000 }))).filter((e) => !e.action.startsWith('node.')); // enrollments are audited too (issue 7)
  assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target]), [[`cli:${userInfo().username}`, 'quarantine.retry', 'quarantine:1'], [`cli:${userInfo().username}`, 'quarantine.discard', 'quarantine:1']]);

  // The node's quarantine: its own change's notice cannot be retried here, only dismissed.
  const nodeList = JSON.parse(outpost(dir, ['quarantine', 'list', '--db', labB, '--json']).stdout);
  const notice = nodeList.entries.find((e: { hubId?: number }) => e.hubId === 1);
  const pulled = nodeList.entries.find((e: { hubId?: number }) => e.hubId === undefined);
  const noRetry = outpost(dir, ['quarantine', 'retry', String(notice.id), '--db', labB]);
  assert.equal(noRetry.code, 2);
  assert.match(noRetry.stderr, /retry or discard it there/);
  // A's insert still clashes with B's own row on B: a retry there is refused and counted.
  const refused = JSON.parse(outpost(dir, ['quarantine', 'retry', String(pulled.id), '--db', labB, '--json']).stdout);
  assert.deepEqual([refused.applied, refused.entry.attempts], [false, 2]);
  assert.match(outpost(dir, ['quarantine', 'discard', String(notice.id), '--db', labB]).stdout, /dismissed/);
  // B's next sync takes the hub's discard (its row goes) and then A's item fits.
  await b.agent.sync();
  const after = JSON.parse(outpost(dir, ['quarantine', 'list', '--all', '--db', labB, '--json']).stdout);
  assert.deepEqual(after.entries.map((e: { status: string; resolvedBy: string | null }) => [e.status, e.resolvedBy]), [['discarded', `cli:${userInfo().username}`], ['applied', 'sync']]);
  assert.deepEqual((await b.app.query<{ id: string }>('SELECT id FROM items ORDER BY id')).map((r) => r.id), ['i-a']);
});
