import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { hubApp, hubWithLabs, queryAll, type TestNode } from '../helpers/fixtures.ts';
import { goLive, until } from '../helpers/live.ts';
import { readNodeState, writeNodeState } from '../../src/node/node-state.ts';
import { revokeNode } from '../../src/hub/enrollment.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { LIVE_CLOSE, LIVE_MAX_PAYLOAD } from '../../src/protocol/index.ts';
import { nodeStatusReport } from '../../src/node/status-report.ts';

const ADMIN = 'live-test-admin-token-0123456789';

const item = (id: string, name: string): string => `INSERT INTO items (id, lab_id, name, quantity) VALUES ('${id}', 'lab-a', '${name}', 1)`;
const has = (lab: TestNode, id: string): boolean => queryAll(lab.path, 'SELECT 1 FROM items WHERE id = ?', id).length === 1;

test('live: a lab write reaches the other live lab, and a website write reaches both, without any interval sync', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  goLive(t, a);
  goLive(t, b);
  await until(() => a.agent.live?.state === 'connected' && b.agent.live?.state === 'connected', 5000, 'both connected');
  assert.equal(hub.app.live.size, 2);

  a.app.exec(item('11111111-0000-4000-8000-000000000001', 'from lab a'));
  const ms = await until(() => has(b, '11111111-0000-4000-8000-000000000001'), 2000, 'lab b has lab a\'s row');
  t.diagnostic(`lab a → lab b: ${ms.toFixed(0)} ms`);

  const web = hubApp(hub);
  t.after(() => web.close());
  web.exec(item('22222222-0000-4000-8000-000000000002', 'from the website'));
  const ms2 = await until(() => has(a, '22222222-0000-4000-8000-000000000002') && has(b, '22222222-0000-4000-8000-000000000002'), 2000, 'both labs have the website\'s row');
  t.diagnostic(`website → labs: ${ms2.toFixed(0)} ms`);

  const metrics = await (await fetch(`${hub.url}/metrics`)).text();
  assert.match(metrics, /^outpost_live_nodes 2$/m);
  const pokes = Number(/^outpost_live_pokes_total (\d+)$/m.exec(metrics)?.[1]);
  // lab a's push pokes lab b only; the website's write pokes both.
  assert.ok(pokes >= 3, `pokes sent: ${pokes}`);
});

test('live: whom to poke goes through the poke filter (not the origin of the change)', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  goLive(t, a);
  goLive(t, b);
  await until(() => a.agent.live?.state === 'connected' && b.agent.live?.state === 'connected', 5000, 'both connected');
  const ids = await Promise.all(labs.map(async (l) => (await l.agent.status()).nodeId));
  const targets = hub.app.live.pokeTargets({ head: 99, entries: [{ table: 'items', origin: ids[0]!, pk: ['x'] }] });
  assert.deepEqual(targets.map((n) => n.id), [ids[1]]);
  assert.deepEqual(hub.app.live.pokeTargets({ head: 99, entries: null }).map((n) => n.id).sort(), [...ids].sort());
  assert.deepEqual(hub.app.live.pokeTargets({ head: 99, entries: [{ table: 'items', origin: null }] }).map((n) => n.id).sort(), [...ids].sort());
});

/** A raw socket to /v1/live with a lab's token, open, and the messages it received (from the start: the hello comes with the upgrade). */
async function rawSocket(url: string, token: string): Promise<WebSocket & { got: string[] }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/live`, { headers: { authorization: `Bearer ${token}` } }) as WebSocket & { got: string[] };
  ws.got = [];
  ws.on('message', (m) => ws.got.push(String(m)));
  await once(ws, 'open');
  return ws;
}

test('live: the hub refuses bad credentials before the upgrade, and closes sockets that send bad or oversized messages', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a']);
  const token = (await labs[0]!.db.read(readNodeState)).token;

  const refused = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/v1/live`, { headers: { authorization: 'Bearer nope' } });
  refused.on('error', () => undefined);
  const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
  assert.equal(res.statusCode, 401);
  refused.terminate();

  const plain = await fetch(`${hub.url}/v1/live`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(plain.status, 400);
  assert.match(plain.headers.get('content-type') ?? '', /problem\+json/);

  const hello = await rawSocket(hub.url, token);
  await until(() => hello.got.length > 0, 1000, 'the hello');
  assert.deepEqual(Object.keys(JSON.parse(hello.got[0]!) as object).sort(), ['head', 'nodeId', 'type']);
  hello.send(JSON.stringify({ type: 'hello', cursor: 3 })); // allowed
  hello.send(JSON.stringify({ type: 'subscribe', table: 'items' })); // not allowed
  const [code, reason] = (await once(hello, 'close')) as [number, Buffer];
  assert.equal(code, LIVE_CLOSE.badMessage);
  assert.match(String(reason), /not a live message/);

  const notJson = await rawSocket(hub.url, token);
  notJson.send('{');
  assert.equal(((await once(notJson, 'close')) as [number])[0], LIVE_CLOSE.badMessage);

  const big = await rawSocket(hub.url, token);
  big.send(JSON.stringify({ type: 'hello', pad: 'x'.repeat(LIVE_MAX_PAYLOAD) }));
  assert.equal(((await once(big, 'close')) as [number])[0], LIVE_CLOSE.tooBig);
  await until(() => hub.app.live.size === 0, 1000, 'every socket dropped');
});

test('live: a revocation by another process (outpost node revoke) closes the node\'s socket within 1 s', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  goLive(t, a);
  const lb = goLive(t, b);
  await until(() => a.agent.live?.state === 'connected' && b.agent.live?.state === 'connected', 5000, 'both connected');
  // Another process's revocation: its own connection to the hub's database, as `outpost node revoke` has.
  const other = new SqliteAdapter(hub.dbPath);
  t.after(() => other.close());
  const t0 = performance.now();
  await revokeNode(other, 'lab-b');
  const ms = await until(() => hub.app.live.size === 1, 1000, 'lab b\'s socket closed');
  t.diagnostic(`closed ${ms.toFixed(0)} ms after another process revoked (${(performance.now() - t0).toFixed(0)} ms with the revoke)`);
  // lab a keeps its socket; lab b's loop stops on UNAUTHORIZED.
  assert.equal(a.agent.live?.state, 'connected');
  assert.equal(((await lb.done) as { code?: string }).code, 'UNAUTHORIZED');
});

test('live: the admin API\'s revoke closes the socket at once', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a'], { hub: { adminToken: ADMIN } });
  const la = goLive(t, labs[0]!);
  await until(() => labs[0]!.agent.live?.state === 'connected', 5000, 'connected');
  const t0 = performance.now();
  const res = await fetch(`${hub.url}/v1/admin/nodes/lab-a/revoke`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { liveClosed: number }).liveClosed, 1);
  assert.equal(hub.app.live.size, 0);
  t.diagnostic(`revoked and closed in ${(performance.now() - t0).toFixed(1)} ms`);
  assert.equal(((await la.done) as { code?: string }).code, 'UNAUTHORIZED');
  const missing = await fetch(`${hub.url}/v1/admin/nodes/nobody/revoke`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(missing.status, 404);
});

/** A proxy that passes plain HTTP to `target` and answers every WebSocket upgrade with `status`. */
async function noUpgradeProxy(target: string, status: number): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const out = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('upgrade', (_req, socket) => {
    socket.end(`HTTP/1.1 ${status} Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('live: behind a proxy that refuses upgrades the node falls back to interval sync, says why, and keeps retrying', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  const proxy = await noUpgradeProxy(hub.url, 403);
  t.after(() => proxy.close());
  await b.db.write((tx) => writeNodeState(tx, { hubUrl: proxy.url }));
  const state = await b.db.read(readNodeState);
  assert.equal(state.hubUrl, proxy.url, 'the lab now reaches the hub only through the proxy');
  const lb = goLive(t, b, { intervalMs: 300 });
  await until(() => b.agent.live?.state === 'fallback-interval', 3000, 'fallback');
  // The status a desktop app reads (and `outpost status` in another process) says so too.
  await until(async () => (await nodeStatusReport(b.agent)).live?.state === 'fallback-interval', 2000, 'fallback in the status');
  const st = await nodeStatusReport(b.agent);
  assert.match(st.live?.reason ?? '', /HTTP 403/);
  // Interval sync still carries changes.
  a.app.exec(item('33333333-0000-4000-8000-000000000003', 'through the fallback'));
  await a.agent.sync();
  await until(() => has(b, '33333333-0000-4000-8000-000000000003'), 3000, 'lab b got the row by interval sync');
  // It keeps retrying the WebSocket in the background.
  const tries = lb.states.filter((s) => s.state === 'fallback-interval').length;
  await until(() => lb.states.filter((s) => s.state === 'fallback-interval').length > tries, 3000, 'another WebSocket attempt');
});

test('live: a poke is answered without a handshake or a push when the lab has nothing to push (here by the page it carried: no pull either); a local write still takes a full sync', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  goLive(t, b);
  await until(() => b.agent.live?.state === 'connected', 5000, 'connected');
  await new Promise((r) => setTimeout(r, 300));
  const count = async (route: string): Promise<number> => Number(new RegExp(`^outpost_requests_total\\{route="${route.replace(/\//g, '\\/')}",status="200"\\} (\\d+)$`, 'm').exec(await (await fetch(`${hub.url}/metrics`)).text())?.[1] ?? 0);
  const [hs0, pull0] = [await count('/v1/handshake'), await count('/v1/pull')];
  const web = hubApp(hub);
  t.after(() => web.close());
  web.exec(item('44444444-0000-4000-8000-000000000004', 'poked'));
  await until(() => has(b, '44444444-0000-4000-8000-000000000004'), 3000, 'lab b has the website\'s row');
  assert.equal(await count('/v1/handshake'), hs0, 'no handshake for a poke');
  assert.equal(await count('/v1/pull'), pull0, 'no pull: the poke carried the change (live-pages.test.ts has the cases that pull)');
  // Lab b's status still says when it last synced.
  assert.ok((await b.agent.status()).lastSyncAt! >= new Date(Date.now() - 5000).toISOString());
  // A write on lab b goes up by a full sync (its capture watch), and reaches lab a.
  b.app.exec(item('55555555-0000-4000-8000-000000000005', 'from b'));
  await until(async () => (await count('/v1/handshake')) > hs0, 3000, 'a full sync for the local write');
  await a.agent.sync();
  assert.ok(has(a, '55555555-0000-4000-8000-000000000005'));
});
