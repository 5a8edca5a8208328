import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { hubApp, hubWithLabs, rowsOf, startHubOn } from '../helpers/fixtures.ts';
import { startControlServer, controlToken } from '../../src/node/control-server.ts';
import { revokeNode } from '../../src/hub/enrollment.ts';
import type { NodeStatusReport } from '../../src/node/status-report.ts';

const ITEM = (n: number): string => `7a000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface Answer {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

/** One request with node:http, so that the Host and Origin headers are the test's to set. */
function call(port: number, method: string, path: string, o: { body?: string; headers?: Record<string, string>; host?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: o.host ?? '127.0.0.1', port, method, path, headers: o.headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
const json = { 'content-type': 'application/json' };

function assertProblem(a: Answer, status: number, code: string): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.match(a.type, /^application\/problem\+json/);
  assert.equal(a.body.code, code);
  assert.equal(a.body.status, status);
  assert.equal(typeof a.body.detail, 'string');
}

test('the control endpoint: POST /sync moves a row, GET /status shows pending then idle, joins a running sync; 127.0.0.1 only', async (t) => {
  let slow = 0;
  const { hub, labs: [a, b] } = await hubWithLabs(t, ['lab-a', 'lab-b'], {
    hub: { setup: (app) => app.addHook('preHandler', async (req) => { if (slow && req.url === '/v1/handshake') await sleep(slow); }) },
  });
  const control = await startControlServer(a!.agent, { port: 0 });
  t.after(() => control.close());
  assert.equal((await call(control.port, 'GET', '/status')).body.state, 'idle', 'after join');

  a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'beaker', 3)").run(ITEM(1));
  const before = (await call(control.port, 'GET', '/status')).body as unknown as NodeStatusReport;
  assert.equal(before.pending, 1);
  assert.equal(before.state, 'idle');
  assert.deepEqual(before.quarantined, { here: 0, atHub: 0 });
  assert.equal(before.conflictsOpen, 0);

  const synced = await call(control.port, 'POST', '/sync', { headers: json, body: '{}' });
  assert.equal(synced.status, 200, JSON.stringify(synced.body));
  assert.equal(synced.body.ok, true);
  assert.equal(synced.body.pushed, 1);
  assert.equal(synced.body.joined, false);
  const after = (await call(control.port, 'GET', '/status')).body as unknown as NodeStatusReport;
  assert.equal(after.pending, 0);
  assert.equal(after.state, 'idle');
  assert.equal(after.lastAttempt?.ok, true);
  assert.equal(after.lag, 0);
  assert.ok(after.lastSyncAt && after.hubContactAt);
  await b!.agent.sync();
  assert.deepEqual(rowsOf(b!.path, 'items').filter((r) => r.id === ITEM(1)).map((r) => r.name), ['beaker'], 'the row reached lab-b');

  // the website writes a row: lab-a's next sync pulls it
  const website = hubApp(hub);
  website.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'from the website', 1)").run(ITEM(2));
  website.close();

  // A sync under way (the hub holds the handshake 400 ms): status says syncing, a second POST joins it.
  slow = 400;
  const first = call(control.port, 'POST', '/sync');
  await sleep(100);
  const during = (await call(control.port, 'GET', '/status')).body as unknown as NodeStatusReport;
  assert.equal(during.state, 'syncing');
  assert.ok(during.syncingSince);
  const second = await call(control.port, 'POST', '/sync', { headers: json, body: '{}' });
  const firstDone = await first;
  slow = 0;
  assert.equal(second.status, 200);
  assert.equal(second.body.joined, true);
  assert.equal(firstDone.body.joined, false);
  assert.equal(second.body.pulled, 1);
  assert.deepEqual({ ...second.body, joined: false }, firstDone.body, 'the same sync, the same summary');

  // bound to 127.0.0.1 only
  const bound = (control as unknown as { port: number }).port;
  const other = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
  if (other) await assert.rejects(call(bound, 'GET', '/status', { host: other.address, headers: { host: `127.0.0.1:${bound}` } }), /ECONNREFUSED/);
  await assert.rejects(call(bound, 'GET', '/status', { host: '::1' }), /ECONNREFUSED|EADDRNOTAVAIL/);
});

test('the control endpoint refuses bad requests with problem+json and changes nothing', async (t) => {
  const { labs: [a] } = await hubWithLabs(t, ['lab-a']);
  const control = await startControlServer(a!.agent, { port: 0 });
  t.after(() => control.close());
  a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'flask', 1)").run(ITEM(3));
  const p = control.port;
  assertProblem(await call(p, 'POST', '/sync', { headers: json, body: '[1]' }), 400, 'VALIDATION_FAILED');
  assertProblem(await call(p, 'POST', '/sync', { headers: json, body: '{"now":true}' }), 400, 'VALIDATION_FAILED');
  assertProblem(await call(p, 'POST', '/sync', { headers: json, body: '{' }), 400, 'INVALID_JSON');
  assertProblem(await call(p, 'POST', '/sync', { headers: { 'content-type': 'text/plain' }, body: 'sync' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  assertProblem(await call(p, 'POST', '/sync', { headers: json, body: JSON.stringify({ pad: 'x'.repeat(2000) }) }), 413, 'BODY_TOO_LARGE');
  assertProblem(await call(p, 'GET', '/nothing'), 404, 'NOT_FOUND');
  assertProblem(await call(p, 'DELETE', '/sync'), 404, 'NOT_FOUND');
  // a web page (Origin), and a DNS-rebinding name (Host)
  assertProblem(await call(p, 'POST', '/sync', { headers: { origin: 'https://evil.example' } }), 403, 'CONTROL_REFUSED');
  assertProblem(await call(p, 'GET', '/status', { headers: { host: `evil.example:${p}` } }), 403, 'CONTROL_REFUSED');
  assert.equal((await call(p, 'GET', '/status', { headers: { host: `localhost:${p}` } })).status, 200);
  const st = (await call(p, 'GET', '/status')).body as unknown as NodeStatusReport;
  assert.equal(st.pending, 1, 'no refused request synced');
  assert.equal(st.lastAttempt?.ok, true);

  // with a token file: made with mode 0600, needed on every request
  const file = join(a!.path + '.control-token');
  const token = controlToken(file);
  assert.equal(readFileSync(file, 'utf8').trim(), token);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(controlToken(file), token, 'read back, not replaced');
  const guarded = await startControlServer(a!.agent, { port: 0, token });
  t.after(() => guarded.close());
  assertProblem(await call(guarded.port, 'GET', '/status'), 401, 'UNAUTHORIZED');
  assertProblem(await call(guarded.port, 'POST', '/sync', { headers: { authorization: `Bearer ${token}x` } }), 401, 'UNAUTHORIZED');
  assert.equal((await call(guarded.port, 'GET', '/status', { headers: { authorization: `Bearer ${token}` } })).body.pending, 1);
  const ok = await call(guarded.port, 'POST', '/sync', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.pushed, 1);
});

test('status states: offline when the hub is down, error when it refuses; counts kept as of the last contact', async (t) => {
  const { hub, labs: [a] } = await hubWithLabs(t, ['lab-a']);
  const control = await startControlServer(a!.agent, { port: 0 });
  t.after(() => control.close());
  const p = control.port;
  const contact = ((await call(p, 'GET', '/status')).body as unknown as NodeStatusReport).hubContactAt;

  // the hub is down: offline
  await hub.close();
  const down = await call(p, 'POST', '/sync');
  assert.equal(down.status, 502);
  assert.match(down.type, /^application\/problem\+json/);
  assert.equal(down.body.code, 'HUB_UNREACHABLE');
  assert.equal(down.body.state, 'offline');
  const off = (await call(p, 'GET', '/status')).body as unknown as NodeStatusReport;
  assert.equal(off.state, 'offline');
  assert.equal(off.lastAttempt?.ok, false);
  assert.equal(off.lastAttempt?.code, 'HUB_UNREACHABLE');
  assert.equal(off.hubContactAt, contact, 'the hub view stays as of the last contact');
  assert.equal(off.lag, 0);

  // the hub is back but refuses this node: error
  const port = Number(new URL(hub.url).port);
  const again = await startHubOn(hub.dbPath, { port });
  t.after(() => again.close());
  await revokeNode(again.hub.db, 'lab-a');
  const refused = await call(p, 'POST', '/sync');
  assert.equal(refused.status, 502);
  assert.equal(refused.body.code, 'UNAUTHORIZED');
  assert.equal(refused.body.state, 'error');
  const err = (await call(p, 'GET', '/status')).body as unknown as NodeStatusReport;
  assert.equal(err.state, 'error');
  assert.equal(err.lastAttempt?.code, 'UNAUTHORIZED');
  assert.ok(err.lastSyncAt, 'the last successful sync is still shown');
});


test('status counts what the hub holds open for this node: conflicts it is a side of', async (t) => {
  const tables = {
    labs: { direction: 'down' as const, policy: 'merge' as const }, categories: { direction: 'down' as const, policy: 'merge' as const },
    stock_movements: { direction: 'up' as const, policy: 'merge' as const }, items: { direction: 'both' as const, policy: 'manual' as const },
  };
  const { labs: [a, b, c] } = await hubWithLabs(t, ['lab-a', 'lab-b', 'lab-c'], { hub: { config: { tables } } });
  a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'burette', 10)").run(ITEM(9));
  await a!.agent.sync();
  await b!.agent.sync();
  a!.app.prepare('UPDATE items SET quantity = 5 WHERE id = ?').run(ITEM(9));
  b!.app.prepare('UPDATE items SET quantity = 7 WHERE id = ?').run(ITEM(9));
  await a!.agent.sync();
  await b!.agent.sync(); // concurrent with lab-a's: a conflict for an admin (manual)
  await a!.agent.sync();
  await c!.agent.sync();
  const { nodeStatusReport } = await import('../../src/node/status-report.ts');
  assert.equal((await nodeStatusReport(b!.agent)).conflictsOpen, 1, 'lab-b wrote the side that waits');
  assert.equal((await nodeStatusReport(a!.agent)).conflictsOpen, 1, 'lab-a wrote the side the hub kept');
  assert.equal((await nodeStatusReport(c!.agent)).conflictsOpen, 0, 'lab-c is no side of it');
});
