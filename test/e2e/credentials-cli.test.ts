import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { BIN, outpost, freePort, startHubProcess } from '../helpers/cli.ts';
import { tempDir, oimsDatabase, queryAll, OIMS_CONFIG } from '../helpers/fixtures.ts';
import { join } from 'node:path';

const CODE = /^[0-9a-f]{6}(-[0-9a-f]{6}){3}\n$/;

function withStdin(cwd: string, args: string[], input: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('outpost node add --expires-in, node add again before the join, node rotate, rotate (with and without --code), admin add --password-stdin; audited by OS user', async (t) => {
  const dir = tempDir(t);
  oimsDatabase(join(dir, 'hub.db'));
  const port = await freePort();
  const hub = await startHubProcess(dir, ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG]);
  t.after(() => hub.kill('SIGTERM'));
  const url = `http://127.0.0.1:${port}`;
  const db = ['--db', 'sqlite:hub.db'];

  for (const bad of ['0m', '10', '31d', 'soon']) {
    const r = outpost(dir, ['node', 'add', 'lab-a', ...db, '--expires-in', bad]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /--expires-in .*\[BAD_REQUEST\]/);
  }
  const first = outpost(dir, ['node', 'add', 'lab-a', ...db, '--expires-in', '2h']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, CODE, 'node add prints the code and nothing else');
  const [exp] = queryAll<{ code_expires_at: number; created_at: number }>(join(dir, 'hub.db'), "SELECT code_expires_at, created_at FROM _outpost_nodes WHERE name = 'lab-a'");
  assert.equal(exp!.code_expires_at - exp!.created_at, 2 * 3_600_000);
  const second = outpost(dir, ['node', 'add', 'lab-a', ...db]);
  assert.equal(second.code, 0, second.stderr);
  assert.notEqual(second.stdout, first.stdout);
  const stale = outpost(dir, ['join', '--hub', url, '--code', first.stdout.trim(), '--db', 'sqlite:lab-a.db']);
  assert.equal(stale.code, 2);
  assert.match(stale.stderr, /\[ENROLLMENT_CODE_INVALID\]/);
  const joined = outpost(dir, ['join', '--hub', url, '--code', second.stdout.trim(), '--db', 'sqlite:lab-a.db']);
  assert.equal(joined.code, 0, joined.stderr);
  const token = (): string => queryAll<{ v: string }>(join(dir, 'lab-a.db'), "SELECT v FROM _outpost_state WHERE k = 'token'")[0]!.v;
  const t1 = token();

  // Node-initiated rotation.
  const rot = outpost(dir, ['rotate', '--db', 'sqlite:lab-a.db', '--json']);
  assert.equal(rot.code, 0, rot.stderr);
  assert.deepEqual(JSON.parse(rot.stdout), { ok: true, nodeId: JSON.parse(rot.stdout).nodeId, nodeName: 'lab-a', confirmed: true });
  assert.notEqual(token(), t1);
  assert.equal((await fetch(`${url}/v1/pull?after=0`, { headers: { authorization: `Bearer ${t1}` } })).status, 401);
  assert.equal(outpost(dir, ['sync', '--db', 'sqlite:lab-a.db']).code, 0);

  // Re-key from the hub: the node's credential dies at once, and the code brings it back.
  const rekey = outpost(dir, ['node', 'rotate', 'lab-a', ...db, '--expires-in', '10m']);
  assert.equal(rekey.code, 0, rekey.stderr);
  assert.match(rekey.stdout, CODE);
  const refused = outpost(dir, ['sync', '--db', 'sqlite:lab-a.db']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /\[UNAUTHORIZED\]/);
  const back = outpost(dir, ['rotate', '--db', 'sqlite:lab-a.db', '--code', rekey.stdout.trim()]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /new credential for lab-a .* stored; the old one no longer works/);
  assert.equal(outpost(dir, ['sync', '--db', 'sqlite:lab-a.db']).code, 0);
  assert.equal(outpost(dir, ['node', 'rotate', 'nobody', ...db]).code, 2);

  // Admin accounts: the password from standard input (never an argument), refused when too short or with no terminal.
  const added = withStdin(dir, ['admin', 'add', 'alice', ...db, '--password-stdin'], 'a long enough password\n');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added admin alice \(admin\)/);
  const viewer = withStdin(dir, ['admin', 'add', 'bob', ...db, '--role', 'viewer', '--password-stdin', '--json'], 'another long password');
  assert.deepEqual(JSON.parse(viewer.stdout), { ok: true, name: 'bob', role: 'viewer' });
  assert.match(withStdin(dir, ['admin', 'add', 'carol', ...db, '--password-stdin'], 'short\n').stderr, /at least 12 characters \[BAD_REQUEST\]/);
  assert.match(withStdin(dir, ['admin', 'add', 'carol', ...db, '--role', 'root', '--password-stdin'], 'a long enough password').stderr, /--role must be admin or viewer/);
  const noTty = withStdin(dir, ['admin', 'add', 'carol', ...db], '');
  assert.equal(noTty.code, 2);
  assert.match(noTty.stderr, /--password-stdin/);
  const login = await fetch(`${url}/v1/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', password: 'a long enough password' }) });
  assert.equal(login.status, 200, 'the running hub sees accounts added on its database');
  const session = ((await login.json()) as { token: string }).token;
  assert.equal((await fetch(`${url}/v1/admin/audit`, { headers: { authorization: `Bearer ${session}` } })).status, 200);

  outpost(dir, ['node', 'revoke', 'lab-a', ...db]);
  const me = `cli:${userInfo().username}`;
  const audit = queryAll<{ actor: string; action: string; target: string; detail: string }>(join(dir, 'hub.db'), 'SELECT actor, action, target, detail FROM _outpost_audit ORDER BY id');
  assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target]), [
    [me, 'node.add', 'node:lab-a'], [me, 'node.code', 'node:lab-a'], ['node:lab-a', 'node.join', 'node:lab-a'], ['node:lab-a', 'node.rotate', 'node:lab-a'],
    [me, 'node.rekey', 'node:lab-a'], ['node:lab-a', 'node.rekeyed', 'node:lab-a'], [me, 'admin.add', 'admin:alice'], [me, 'admin.add', 'admin:bob'],
    ['alice', 'admin.login', 'admin:alice'], [me, 'node.revoke', 'node:lab-a'],
  ]);
  const text = JSON.stringify(audit);
  for (const secret of [first.stdout.trim(), second.stdout.trim(), rekey.stdout.trim(), t1, token(), 'a long enough password', session]) assert.ok(!text.includes(secret), 'no secret in the audit trail');
});
