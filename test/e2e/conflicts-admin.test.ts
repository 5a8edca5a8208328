import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OIMS_CONFIG, hubWithLabs, queryAll, rowsOf, type TestNode } from '../helpers/fixtures.ts';
import { outpost } from '../helpers/cli.ts';
import { buildServer } from '../../src/hub/server.ts';
import { addAdmin } from '../../src/hub/admin-accounts.ts';

const TOKEN = 'admin-token-for-tests-0123456789';
const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A hub whose items are `manual`, two labs, and one open conflict per item given (notes written on both labs). */
async function withOpenConflicts(t: Parameters<typeof hubWithLabs>[0], items: number[]) {
  const config = JSON.parse(readFileSync(OIMS_CONFIG, 'utf8')) as { tables: Record<string, object> };
  config.tables.items = { direction: 'both', policy: 'manual' };
  const world = await hubWithLabs(t, ['lab-a', 'lab-b'], { hub: { config: { tables: config.tables as never } } });
  const configPath = join(world.dir, 'hub.json');
  writeFileSync(configPath, JSON.stringify(config));
  const [a, b] = world.labs as [TestNode, TestNode];
  for (const n of items) a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, 1)").run(ID(n), `item ${n}`);
  for (const l of [a, b, a]) await l.agent.sync();
  for (const n of items) a.app.prepare('UPDATE items SET notes = ? WHERE id = ?').run(`A${n}`, ID(n));
  await sleep(5);
  for (const n of items) b.app.prepare('UPDATE items SET notes = ? WHERE id = ?').run(`B${n}`, ID(n));
  await a.agent.sync();
  await b.agent.sync();
  return { ...world, a, b, configPath };
}

test('admin API: conflicts need an admin session or the admin token (never a node credential; a viewer cannot resolve); list, show, resolve, audit; bad input changes nothing', async (t) => {
  const { hub, a, b } = await withOpenConflicts(t, [1]);
  const app = await buildServer(hub.hub, { adminToken: TOKEN });
  t.after(() => app.close());
  const off = await buildServer(hub.hub);
  t.after(() => off.close());
  const auth = { authorization: `Bearer ${TOKEN}` };
  const nodeToken = queryAll<{ v: string }>(a.path, "SELECT v FROM _outpost_state WHERE k = 'token'")[0]!.v;

  const problem = (r: { statusCode: number; headers: Record<string, unknown>; json: () => { code: string } }, status: number, code: string): void => {
    assert.equal(r.statusCode, status);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.json().code, code);
  };
  problem(await app.inject({ url: '/v1/admin/conflicts' }), 401, 'ADMIN_UNAUTHORIZED');
  problem(await app.inject({ url: '/v1/admin/conflicts', headers: { authorization: `Bearer ${nodeToken}` } }), 401, 'ADMIN_UNAUTHORIZED');
  problem(await app.inject({ url: '/v1/admin/conflicts', headers: auth }).then(() => off.inject({ url: '/v1/admin/conflicts', headers: auth })), 403, 'ADMIN_DISABLED');

  const list = (await app.inject({ url: '/v1/admin/conflicts?status=open', headers: auth })).json() as { conflicts: { id: number; column: string; lost: { value: unknown }; kept: { value: unknown } }[] };
  assert.deepEqual(list.conflicts.map((c) => [c.column, c.lost.value, c.kept.value]), [['notes', 'B1', 'A1']]);
  const id = list.conflicts[0]!.id;
  assert.equal((await app.inject({ url: `/v1/admin/conflicts/${id}`, headers: auth })).json().status, 'open');
  problem(await app.inject({ url: '/v1/admin/conflicts/x', headers: auth }), 400, 'BAD_REQUEST');
  problem(await app.inject({ url: '/v1/admin/conflicts/999', headers: auth }), 404, 'NOT_FOUND');
  problem(await app.inject({ url: '/v1/admin/conflicts?status=maybe', headers: auth }), 400, 'VALIDATION_FAILED');

  const before = rowsOf(hub.dbPath, 'items');
  const post = (body: unknown, headers: Record<string, string> = auth) => app.inject({ method: 'POST', url: `/v1/admin/conflicts/${id}/resolve`, headers, payload: body as object });
  problem(await post({ take: 'somebody' }), 400, 'VALIDATION_FAILED');
  problem(await post({ set: { nope: 1 } }), 400, 'UNKNOWN_COLUMN');
  problem(await post({ set: { quantity: 'many' } }), 400, 'BAD_VALUE');
  problem(await post({ set: { __proto__: 1 } }), 400, 'VALIDATION_FAILED');
  problem(await post({ take: 'node' }, {}), 401, 'ADMIN_UNAUTHORIZED');
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), before, 'refused requests changed nothing');
  assert.equal((await app.inject({ url: `/v1/admin/conflicts/${id}`, headers: auth })).json().status, 'open');

  // Admins log in (issue 7): a viewer may read but not resolve; the admin's name is the audit actor.
  await addAdmin(hub.hub.db, { name: 'alice', password: 'alice-password-123', actor: 'test' });
  await addAdmin(hub.hub.db, { name: 'vic', password: 'vic-password-1234', role: 'viewer', actor: 'test' });
  const session = async (name: string, password: string): Promise<Record<string, string>> =>
    ({ authorization: `Bearer ${(await app.inject({ method: 'POST', url: '/v1/admin/login', payload: { name, password } })).json().token}` });
  const vic = await session('vic', 'vic-password-1234');
  assert.equal((await app.inject({ url: `/v1/admin/conflicts/${id}`, headers: vic })).json().status, 'open');
  problem(await post({ take: 'node' }, vic), 403, 'FORBIDDEN');
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), before, 'the viewer changed nothing');
  const done = await post({ take: 'node' }, await session('alice', 'alice-password-123'));
  assert.equal(done.statusCode, 200);
  assert.deepEqual([done.json().status, done.json().result, done.json().resolved.by], ['resolved', 'B1', 'alice']);
  problem(await post({ take: 'hub' }), 409, 'ALREADY_RESOLVED');
  for (const l of [a, b]) await l.agent.sync();
  for (const path of [hub.dbPath, a.path, b.path]) assert.equal((rowsOf(path, 'items')[0] as { notes: string }).notes, 'B1', `${path} has the admin's choice`);

  const audit = (await app.inject({ url: '/v1/admin/audit', headers: auth })).json() as { entries: { actor: string; action: string; target: string; detail: { take: string; result: unknown } }[] };
  assert.deepEqual(audit.entries.filter((e) => e.action.startsWith('conflict.')).map((e) => [e.actor, e.action, e.target, e.detail.take, e.detail.result]), [['alice', 'conflict.resolve', `conflict:${id}`, 'node', 'B1']]);
  const metrics = await app.inject({ url: '/metrics' });
  assert.match(metrics.body, /^outpost_conflicts_open 0$/m);
});

test('outpost conflicts list | show | resolve on the hub database: the review queue, a decision that replicates, errors that change nothing', async (t) => {
  const { hub, a, b, dir, configPath } = await withOpenConflicts(t, [1, 2]);
  const db = `sqlite:${hub.dbPath}`;
  const list = outpost(dir, ['conflicts', 'list', '--db', db, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const open = (JSON.parse(list.stdout) as { conflicts: { id: number; pk: string[] }[] }).conflicts;
  assert.equal(open.length, 2);
  const human = outpost(dir, ['conflicts', 'list', '--db', db]);
  assert.match(human.stdout, /#\d+ open .* items \["00000000-0000-4000-8000-000000000001"\]\.notes .* wrote "B1", .* holds "A1"/);
  const one = open[0]!;
  const two = open[1]!;
  assert.match(outpost(dir, ['conflicts', 'show', String(one.id), '--db', db]).stdout, /lost: {3}"B1"[\s\S]*kept: {3}"A1"[\s\S]*base: {3}NULL/);

  const refused = outpost(dir, ['conflicts', 'resolve', String(one.id), '--db', db, '--config', configPath]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /either --take hub\|node or --set/);
  const badValue = outpost(dir, ['conflicts', 'resolve', String(one.id), '--db', db, '--config', configPath, '--set', 'quantity=lots']);
  assert.equal(badValue.code, 2);
  assert.match(badValue.stderr, /\[BAD_VALUE\]/);

  const set = outpost(dir, ['conflicts', 'resolve', String(one.id), '--db', db, '--config', configPath, '--set', 'notes=agreed on the phone', '--by', 'bob', '--json']);
  assert.equal(set.code, 0, set.stderr);
  assert.equal((JSON.parse(set.stdout) as { conflict: { result: string } }).conflict.result, 'agreed on the phone');
  const take = outpost(dir, ['conflicts', 'resolve', String(two.id), '--db', db, '--config', configPath, '--take', 'hub']);
  assert.equal(take.code, 0, take.stderr);
  const again = outpost(dir, ['conflicts', 'resolve', String(two.id), '--db', db, '--config', configPath, '--take', 'node']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /\[ALREADY_RESOLVED\]/);
  assert.equal(outpost(dir, ['conflicts', 'show', '999', '--db', db]).code, 2);

  for (const l of [a, b, a]) await l.agent.sync();
  for (const path of [hub.dbPath, a.path, b.path]) {
    assert.deepEqual(rowsOf(path, 'items').map((r) => r.notes), ['agreed on the phone', 'A2'], `${path} has both decisions`);
  }
  const status = outpost(dir, ['status', '--db', db]);
  assert.match(status.stdout, /0 waiting for review/);
  const audit = queryAll<{ actor: string; target: string }>(hub.dbPath, "SELECT actor, target FROM _outpost_audit WHERE action LIKE 'conflict.%' ORDER BY id");
  assert.deepEqual(audit.map((e) => e.actor), ['cli:bob', audit[1]!.actor]);
  assert.match(audit[1]!.actor, /^cli:/);
  assert.equal(outpost(dir, ['conflicts', 'list', '--db', db, '--status', 'resolved', '--json']).stdout.match(/"status":"resolved"/g)?.length, 2);
});
