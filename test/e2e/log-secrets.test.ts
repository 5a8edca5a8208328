import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OIMS_CONFIG, oimsDatabase, queryAll, tempDir } from '../helpers/fixtures.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { Hub } from '../../src/hub/hub.ts';
import { buildServer } from '../../src/hub/server.ts';
import { hubLogger } from '../../src/hub/logger.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { NodeAgent } from '../../src/node/agent.ts';

/**
 * Issue 7, point 9 (logs): no node token, enrollment code or admin token
 * ever reaches the hub's log, through joins, syncs, admin calls and
 * failures (bad tokens, used codes, a 500), with the hub's own logger at
 * its most verbose level.
 */
const ADMIN = 'admin-token-that-must-not-be-logged-42';

test('no credential reaches the hub log: joins, syncs, admin calls, refusals and a 500', async (t) => {
  const dir = tempDir(t);
  const lines: string[] = [];
  const logger = hubLogger({ write: (s: string) => void lines.push(s) }, 'trace');
  const db = new SqliteAdapter(oimsDatabase(join(dir, 'hub.db')));
  const hub = await Hub.open(db, loadHubConfig(OIMS_CONFIG));
  const app = await buildServer(hub, { logger, adminToken: ADMIN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  const { code } = await addNode(hub.db, 'lab-a');
  const { code: unused } = await addNode(hub.db, 'lab-b');
  const labDb = new SqliteAdapter(join(dir, 'lab-a.db'));
  t.after(() => labDb.close());
  const { agent } = await NodeAgent.join(labDb, url, code);
  const token = queryAll<{ v: string }>(join(dir, 'lab-a.db'), "SELECT v FROM _outpost_state WHERE k = 'token'")[0]!.v;
  assert.ok(token.length > 20);
  await agent.sync();

  const req = (path: string, auth: string | null, body?: unknown): Promise<Response> =>
    fetch(`${url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { ...(auth ? { authorization: auth } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const statuses: number[] = [];
  for (const [path, auth, body] of [
    ['/v1/join', null, { code }], // used already
    ['/v1/join', null, { code: `${unused}x` }], // never issued (a near miss of a real one)
    ['/v1/pull?after=0', `Bearer ${token}`, undefined],
    ['/v1/pull?after=0', `Bearer ${token}x`, undefined],
    ['/v1/pull?after=0', `Bearer ${ADMIN}`, undefined],
    ['/v1/status', `Bearer ${token}`, undefined],
    ['/v1/handshake', `Bearer ${token}`, { protocol: 1, schemaVersion: null, clock: 'not a clock', token }],
    ['/v1/admin/conflicts', `Bearer ${ADMIN}`, undefined],
    ['/v1/admin/conflicts', `Bearer ${token}`, undefined],
    ['/v1/admin/audit', `Bearer ${ADMIN}x`, undefined],
    ['/v1/admin/quarantine/1/retry', `Bearer ${ADMIN}`, { code }],
    ['/v1/admin/conflicts/999/resolve', `Bearer ${ADMIN}`, { take: 'hub' }],
  ] as [string, string | null, unknown][]) statuses.push((await req(path, auth, body)).status);
  assert.deepEqual(statuses, [401, 401, 200, 401, 401, 200, 400, 200, 401, 401, 404, 404]);

  // A 500: the hub's database goes away under a request carrying the token.
  await db.close();
  const broken = await req('/v1/status', `Bearer ${token}`);
  assert.equal(broken.status, 500);
  // And the log calls a handler or plugin might make with a request's parts: redacted by the logger itself.
  app.log.warn({ req: { headers: { authorization: `Bearer ${token}` }, body: { code, token } } }, 'a careless log call');
  app.log.warn({ headers: { authorization: `Bearer ${ADMIN}` }, body: { code: unused } }, 'another');

  const log = lines.join('');
  assert.ok(lines.length > 30, `the hub logged (${lines.length} lines)`);
  assert.match(log, /incoming request/);
  assert.match(log, /request failed/, 'the 500 was logged');
  assert.match(log, /\[redacted\]/);
  for (const [what, secret] of [['node token', token], ['enrollment code', code], ['unused enrollment code', unused], ['admin token', ADMIN]] as const) {
    assert.ok(!log.includes(secret), `the ${what} is in the hub log:\n${lines.filter((l) => l.includes(secret)).join('')}`);
    // Also not in an encoded form a log line could carry.
    assert.ok(!log.includes(encodeURIComponent(secret)), `the ${what} (URL-encoded) is in the hub log`);
    assert.ok(!log.includes(Buffer.from(secret).toString('base64')), `the ${what} (base64) is in the hub log`);
  }
});
