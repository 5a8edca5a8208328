import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { tempDir } from '../helpers/fixtures.ts';
import { joinMatrixLab, startMatrixHub, type DialectName, type MatrixHub } from '../helpers/replicas.ts';
import { buildServer, type ServerOptions } from '../../src/hub/server.ts';
import { addNode, rekeyNode, revokeNode } from '../../src/hub/enrollment.ts';
import { addAdmin } from '../../src/hub/admin-accounts.ts';

const HOUR = 3_600_000;

/**
 * Issue 7 on a hub of one dialect, over real HTTP: one-time codes that
 * expire, single use, the failure limit, node-initiated rotation with a lost
 * reply, re-keying, revocation, admin accounts with roles and sessions, the
 * audit trail, and no plaintext secret anywhere in the hub's database. The
 * hub's clock is injected.
 */
export function credentialScenarios(hubDialect: DialectName, labDialect: DialectName): void {
  const pairing = `hub ${hubDialect} × lab ${labDialect}`;

  /** A hub, and a second server on it with the options under test, listening; every secret seen is collected for the plaintext scan. */
  async function world(t: Parameters<typeof tempDir>[0], opts: ServerOptions = {}) {
    const dir = tempDir(t);
    let offset = 0;
    const now = (): number => Date.now() + offset;
    const hub = await startMatrixHub(t, hubDialect, dir, { now });
    const srv = await listen(t, await buildServer(hub.hub, { now, ...opts }));
    const secrets: string[] = [];
    return {
      dir, hub, srv, now, secrets,
      advance(ms: number) { offset += ms; },
      async addCode(name: string, ttlMs?: number | null) {
        const r = await addNode(hub.db, name, now(), { ttlMs, actor: 'cli:tester' });
        secrets.push(r.code);
        return r;
      },
    };
  }

  test(`${pairing}: enrollment codes expire, work once, and are issued anew for a node that never joined; audited without the code`, async (t) => {
    const w = await world(t);
    const first = await w.addCode('lab-a', HOUR);
    assert.ok(Math.abs(first.expiresAt! - (w.now() + HOUR)) < 5000, 'expiry is an hour from now');
    w.advance(HOUR + 1000);
    const expired = await post(w.srv.url, '/v1/join', { code: first.code });
    assert.deepEqual([expired.status, expired.body.code], [401, 'ENROLLMENT_CODE_INVALID']);
    assert.match(String(expired.body.detail), /expired at .*outpost node add lab-a/);
    assert.ok(!JSON.stringify(expired.body).includes(first.code), 'the problem never echoes the code');

    // `outpost node add` again for a node that never joined: a new code, the same node; the old code is dead.
    const again = await w.addCode('lab-a');
    assert.deepEqual([again.id, again.reissued], [first.id, true]);
    assert.ok(again.expiresAt! - w.now() > 23 * HOUR, 'the default lifetime is 24 hours');
    w.advance(-(HOUR + 1000)); // even back within its hour, the replaced code no longer works
    assert.equal((await post(w.srv.url, '/v1/join', { code: first.code })).body.code, 'ENROLLMENT_CODE_INVALID');
    const joined = await post(w.srv.url, '/v1/join', { code: again.code });
    assert.equal(joined.status, 200);
    assert.equal(joined.body.nodeId, first.id);
    w.secrets.push(String(joined.body.token));
    const reused = await post(w.srv.url, '/v1/join', { code: again.code });
    assert.deepEqual([reused.status, reused.body.code], [401, 'ENROLLMENT_CODE_INVALID']);
    await assert.rejects(addNode(w.hub.db, 'lab-a'), { code: 'NODE_EXISTS' });

    const audit = await actions(w.hub);
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target]), [
      ['cli:tester', 'node.add', 'node:lab-a'], ['cli:tester', 'node.code', 'node:lab-a'], ['node:lab-a', 'node.join', 'node:lab-a'],
    ]);
    await assertNoPlaintext(w.hub, w.secrets);
  });

  test(`${pairing}: failed joins and failed logins are limited per address: 429 RATE_LIMITED with Retry-After, then allowed again`, async (t) => {
    const w = await world(t, { failureLimit: { max: 3, windowMs: 60_000 } });
    const good = await w.addCode('lab-a');
    await addAdmin(w.hub.db, { name: 'alice', password: 'correct horse battery', actor: 'cli:tester' });
    for (let i = 0; i < 3; i++) assert.equal((await post(w.srv.url, '/v1/join', { code: `00000${i}-000000-000000-000000` })).status, 401);
    w.advance(10_000);
    const limited = await post(w.srv.url, '/v1/join', { code: good.code });
    assert.deepEqual([limited.status, limited.body.code, limited.headers.get('retry-after')], [429, 'RATE_LIMITED', '50']);
    assert.equal(limited.body.retryAfterSeconds, 50);
    // Logins are counted apart: the join failures do not block them.
    const ok = await post(w.srv.url, '/v1/admin/login', { name: 'alice', password: 'correct horse battery' });
    assert.equal(ok.status, 200);
    for (const name of ['alice', 'nobody', 'alice']) assert.equal((await post(w.srv.url, '/v1/admin/login', { name, password: 'wrong password!' })).status, 401);
    const loginLimited = await post(w.srv.url, '/v1/admin/login', { name: 'alice', password: 'correct horse battery' });
    assert.deepEqual([loginLimited.status, loginLimited.body.code, loginLimited.headers.get('retry-after')], [429, 'RATE_LIMITED', '60']);
    // Once the failures are a minute old, the right code works (it was never tried, so never spent).
    w.advance(51_000);
    assert.equal((await post(w.srv.url, '/v1/join', { code: good.code })).status, 200);
    assert.equal((await post(w.srv.url, '/v1/admin/login', { name: 'alice', password: 'correct horse battery' })).status, 429, 'the login failures are younger');
    w.advance(10_000);
    assert.equal((await post(w.srv.url, '/v1/admin/login', { name: 'alice', password: 'correct horse battery' })).status, 200);
  });

  test(`${pairing}: a node rotates its credential: the old token is refused once the new one is used; a lost reply never locks it out; re-key by code; revoke`, async (t) => {
    const w = await world(t);
    const lab = await joinMatrixLab(t, w.hub, labDialect, w.dir, 'lab-a', { hubUrl: w.srv.url });
    const other = await joinMatrixLab(t, w.hub, labDialect, w.dir, 'lab-b', { hubUrl: w.srv.url });
    const token = async (): Promise<string> => (await lab.db.read((tx) => tx.getState('token')))!;
    const pullWith = async (tok: string): Promise<number> => (await fetch(`${w.srv.url}/v1/pull?after=0`, { headers: { authorization: `Bearer ${tok}` } })).status;
    const t1 = await token();
    w.secrets.push(t1);

    const r = await lab.agent.rotate();
    assert.deepEqual([r.nodeName, r.confirmed], ['lab-a', true]);
    const t2 = await token();
    w.secrets.push(t2);
    assert.notEqual(t2, t1);
    assert.deepEqual([await pullWith(t1), await pullWith(t2)], [401, 200], 'old refused, new accepted');
    await lab.app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES ('00000000-0000-4000-8000-000000000001', 'lab-a', 'after rotation', 1)");
    assert.equal((await lab.agent.sync()).pushed, 1);

    // The reply to a rotation is lost: the hub made t3, the node never stored it. It goes on with t2.
    const lost = await post(w.srv.url, '/v1/rotate', {}, t2);
    assert.equal(lost.status, 200);
    const t3 = String(lost.body.token);
    w.secrets.push(t3);
    assert.equal(await token(), t2);
    await lab.app.run("UPDATE items SET quantity = 2 WHERE id = '00000000-0000-4000-8000-000000000001'");
    assert.equal((await lab.agent.sync()).pushed, 1, 'the node still syncs with its old token');
    // It rotates again (with t2): t4; the lost t3 and then t2 are dead.
    await lab.agent.rotate();
    const t4 = await token();
    w.secrets.push(t4);
    assert.deepEqual([await pullWith(t2), await pullWith(t3), await pullWith(t4)], [401, 401, 200]);

    // A crash after the node stored its new token but before it used it: the next sync uses (and confirms) it.
    const crashed = await post(w.srv.url, '/v1/rotate', {}, t4);
    const t5 = String(crashed.body.token);
    w.secrets.push(t5);
    await lab.db.write((tx) => tx.setState('token', t5));
    assert.equal(await pullWith(t4), 200, 'unconfirmed: the previous token still works');
    await lab.agent.sync();
    assert.deepEqual([await pullWith(t4), await pullWith(t5)], [401, 200]);

    // No rotation without a credential.
    assert.equal((await post(w.srv.url, '/v1/rotate', {})).body.code, 'UNAUTHORIZED');

    // Re-key from the hub (`outpost node rotate`): the credential dies at once; the node redeems the code.
    const rekey = await rekeyNode(w.hub.db, 'lab-a', w.now(), { actor: 'cli:tester' });
    w.secrets.push(rekey.code);
    assert.equal(await pullWith(t5), 401);
    await assert.rejects(lab.agent.sync(), { code: 'UNAUTHORIZED' });
    const otherCode = await rekeyNode(w.hub.db, 'lab-b', w.now(), { actor: 'cli:tester' });
    w.secrets.push(otherCode.code);
    // lab-a cannot redeem lab-b's code, and the code stays good for lab-b.
    await assert.rejects(lab.agent.rotate(otherCode.code), { code: 'ENROLLMENT_CODE_INVALID' });
    assert.equal((await other.agent.rotate(otherCode.code)).confirmed, true);
    w.secrets.push((await other.db.read((tx) => tx.getState('token')))!);
    assert.equal((await lab.agent.rotate(rekey.code)).confirmed, true);
    const t6 = await token();
    w.secrets.push(t6);
    await lab.agent.sync();
    await assert.rejects(lab.agent.rotate(rekey.code), { code: 'ENROLLMENT_CODE_INVALID' });
    const rows = await w.hub.web.query<{ quantity: number | string }>("SELECT quantity FROM items WHERE id = '00000000-0000-4000-8000-000000000001'");
    assert.equal(Number(rows[0]!.quantity), 2);

    // Revoked: the next request is refused, with the current token and an unconfirmed previous one alike.
    const pending = await post(w.srv.url, '/v1/rotate', {}, t6);
    w.secrets.push(String(pending.body.token));
    await revokeNode(w.hub.db, 'lab-a', w.now(), { actor: 'cli:tester' });
    assert.deepEqual([await pullWith(t6), await pullWith(String(pending.body.token))], [401, 401]);
    assert.equal((await post(w.srv.url, '/v1/rotate', {}, t6)).status, 401);

    const audit = (await actions(w.hub)).filter((e) => e.target === 'node:lab-a');
    assert.deepEqual(audit.map((e) => [e.actor, e.action]), [
      ['system', 'node.add'], ['node:lab-a', 'node.join'], ['node:lab-a', 'node.rotate'], ['node:lab-a', 'node.rotate'], ['node:lab-a', 'node.rotate'],
      ['node:lab-a', 'node.rotate'], ['cli:tester', 'node.rekey'], ['node:lab-a', 'node.rekeyed'], ['node:lab-a', 'node.rotate'], ['cli:tester', 'node.revoke'],
    ]);
    await assertNoPlaintext(w.hub, w.secrets);
  });

  test(`${pairing}: admin accounts: login and logout, viewer reads only (FORBIDDEN), sessions expire, node and admin credentials never cross; audited without passwords`, async (t) => {
    const w = await world(t, { sessionTtlMs: HOUR });
    const lab = await joinMatrixLab(t, w.hub, labDialect, w.dir, 'lab-a', { hubUrl: w.srv.url });
    const nodeToken = (await lab.db.read((tx) => tx.getState('token')))!;
    w.secrets.push(nodeToken);
    const pw = { alice: 'alice: correct horse battery', bob: 'bob: tr0ub4dor & 3 staple' };
    w.secrets.push(pw.alice, pw.bob);
    await addAdmin(w.hub.db, { name: 'alice', password: pw.alice, actor: 'cli:tester' });
    await addAdmin(w.hub.db, { name: 'bob', password: pw.bob, role: 'viewer', actor: 'cli:tester' });
    await assert.rejects(addAdmin(w.hub.db, { name: 'carol', password: 'short', actor: 'x' }), { code: 'BAD_REQUEST' });
    await assert.rejects(addAdmin(w.hub.db, { name: 'alice', password: 'another long password', actor: 'x' }), { code: 'BAD_REQUEST' });

    const wrong = await post(w.srv.url, '/v1/admin/login', { name: 'alice', password: pw.bob });
    const unknown = await post(w.srv.url, '/v1/admin/login', { name: 'mallory', password: pw.bob });
    assert.deepEqual([wrong.status, wrong.body.code], [401, 'ADMIN_UNAUTHORIZED']);
    assert.deepEqual([unknown.status, unknown.body.code, unknown.body.detail], [wrong.status, wrong.body.code, wrong.body.detail], 'an unknown name gets the same answer');

    const a = await post(w.srv.url, '/v1/admin/login', { name: 'alice', password: pw.alice });
    assert.equal(a.status, 200);
    assert.deepEqual([a.body.name, a.body.role], ['alice', 'admin']);
    assert.match(String(a.body.token), /^ops_/);
    assert.ok(Math.abs(Date.parse(String(a.body.expiresAt)) - (w.now() + HOUR)) < 5000, 'the session lasts the configured hour');
    const b = await post(w.srv.url, '/v1/admin/login', { name: 'bob', password: pw.bob });
    assert.equal(b.body.role, 'viewer');
    const alice = String(a.body.token);
    const bob = String(b.body.token);
    w.secrets.push(alice, bob);

    // Both read; only the admin writes (a missing conflict is 404 past the guard, FORBIDDEN before it for the viewer).
    for (const tok of [alice, bob]) {
      for (const url of ['/v1/admin/conflicts', '/v1/admin/quarantine', '/v1/admin/audit']) assert.equal((await get(w.srv.url, url, tok)).status, 200, url);
    }
    for (const url of ['/v1/admin/conflicts/1/resolve', '/v1/admin/quarantine/1/retry', '/v1/admin/quarantine/1/discard']) {
      const v = await post(w.srv.url, url, { take: 'hub' }, bob);
      assert.deepEqual([v.status, v.body.code], [403, 'FORBIDDEN'], url);
      assert.equal((await post(w.srv.url, url, { take: 'hub' }, alice)).status, 404, url);
    }
    // Node credentials never open the admin API; admin sessions never open node routes.
    const asNode = await get(w.srv.url, '/v1/admin/conflicts', nodeToken);
    assert.deepEqual([asNode.status, asNode.body.code], [401, 'ADMIN_UNAUTHORIZED']);
    for (const tok of [alice, bob]) {
      const s = await get(w.srv.url, '/v1/pull?after=0', tok);
      assert.deepEqual([s.status, s.body.code], [401, 'UNAUTHORIZED']);
      assert.equal((await post(w.srv.url, '/v1/handshake', { protocol: 1, schemaVersion: 'x', clock: '0' }, tok)).status, 401);
      assert.equal((await post(w.srv.url, '/v1/rotate', {}, tok)).status, 401);
    }

    // Logout ends the session; the viewer may log out too.
    assert.equal((await post(w.srv.url, '/v1/admin/logout', {}, bob)).status, 200);
    assert.equal((await get(w.srv.url, '/v1/admin/conflicts', bob)).status, 401);
    assert.equal((await post(w.srv.url, '/v1/admin/logout', {}, bob)).status, 401);
    // Sessions expire.
    w.advance(Date.parse(String(a.body.expiresAt)) - 5000 - w.now());
    assert.equal((await get(w.srv.url, '/v1/admin/audit', alice)).status, 200);
    w.advance(10_000);
    const late = await get(w.srv.url, '/v1/admin/audit', alice);
    assert.deepEqual([late.status, late.body.code], [401, 'ADMIN_UNAUTHORIZED']);

    const audit = (await actions(w.hub)).filter((e) => e.action.startsWith('admin.'));
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target]), [
      ['cli:tester', 'admin.add', 'admin:alice'], ['cli:tester', 'admin.add', 'admin:bob'],
      ['alice', 'admin.login.failed', 'admin:alice'], ['unknown', 'admin.login.failed', null],
      ['alice', 'admin.login', 'admin:alice'], ['bob', 'admin.login', 'admin:bob'], ['bob', 'admin.logout', 'admin:bob'],
    ]);
    assert.ok(!JSON.stringify(audit).includes('mallory'), 'an unknown name (a password typed into the wrong field?) is not kept');
    const hashes = await w.hub.web.query<{ password_hash: string }>('SELECT password_hash FROM _outpost_admins ORDER BY name');
    for (const h of hashes) assert.match(h.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await assertNoPlaintext(w.hub, w.secrets);
  });
}

/** The plaintext of no secret (code, token, session, password) is in any credential, session or audit table of the hub. */
async function assertNoPlaintext(hub: MatrixHub, secrets: string[]): Promise<void> {
  assert.ok(secrets.length > 0);
  for (const table of ['_outpost_nodes', '_outpost_admins', '_outpost_sessions', '_outpost_audit', '_outpost_state']) {
    const text = JSON.stringify(await hub.web.query(`SELECT * FROM ${table}`));
    for (const s of secrets) assert.ok(!text.includes(s) && !text.includes(s.slice(4, 20)), `${table} holds a secret in plain text`);
  }
}

async function actions(hub: MatrixHub): Promise<{ actor: string; action: string; target: string | null; detail: string | null }[]> {
  return (await hub.db.read((tx) => tx.listAudit({ limit: 1000 }))).map((e) => ({ actor: e.actor, action: e.action, target: e.target, detail: e.detail }));
}

async function listen(t: { after: (fn: () => Promise<void>) => void }, app: FastifyInstance): Promise<{ url: string }> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const addr = app.server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(base: string, path: string, body: unknown, token?: string): Promise<Reply> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function get(base: string, path: string, token: string): Promise<Reply> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}
