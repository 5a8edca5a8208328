import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { FaultProxy } from './fault-proxy.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, newDatabase, startMatrixHub, type MatrixHub } from '../helpers/replicas.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import { OutpostError } from '../../src/protocol/index.ts';

type TestCtx = { after: (fn: () => unknown) => void };

/** What the tiny upstream server saw: one entry per request, complete or not. */
interface Seen { method: string; url: string; body: Buffer; complete: boolean; socket: number }

/**
 * A tiny HTTP server: `/echo` answers the body it got, `/count` the number of
 * requests so far, `/big` 20,000 bytes with a Content-Length, `/stream` ten
 * chunks of 1,000 bytes without one, `/gzip` a gzipped body as it is.
 */
async function upstream(t: TestCtx): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const sockets = new Map<object, number>();
  const server = createServer((req, res) => {
    if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size + 1);
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', body: Buffer.alloc(0), complete: false, socket: sockets.get(req.socket)! };
    seen.push(entry);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => (entry.body = Buffer.concat(chunks)));
    req.on('end', () => {
      entry.complete = true;
      entry.body = Buffer.concat(chunks);
      if (req.url === '/echo') res.end(entry.body);
      else if (req.url === '/count') res.end(String(seen.length));
      else if (req.url === '/big') res.end(Buffer.alloc(20_000, 'x'));
      else if (req.url === '/gzip') {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
        res.end(gzipSync(JSON.stringify({ hello: 'world' })));
      } else if (req.url === '/stream') {
        let i = 0;
        const next = (): void => {
          if (i++ === 10) return void res.end();
          res.write(Buffer.alloc(1000, 'y'), () => setImmediate(next));
        };
        next();
      } else res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

async function proxyTo(t: TestCtx, target: string): Promise<FaultProxy> {
  const p = await FaultProxy.start(target);
  t.after(() => p.close());
  return p;
}

interface Reply { status: number; body: Buffer; headers: IncomingMessage['headers'] }

/** One request through a keep-alive agent; a broken connection rejects, with the bytes that did arrive. */
function call(base: string, path: string, opts: { agent?: Agent; body?: string; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = request({
      host: u.hostname, port: u.port, path, method: opts.method ?? (body ? 'POST' : 'GET'), agent: opts.agent ?? false,
      headers: body ? { 'content-length': String(body.length) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', (e) => reject(Object.assign(e, { partial: Buffer.concat(chunks) })));
      res.on('aborted', () => reject(Object.assign(new Error('aborted'), { partial: Buffer.concat(chunks) })));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const broken = async (p: Promise<Reply>): Promise<Buffer> => {
  try {
    const r = await p;
    assert.fail(`expected a broken connection, got HTTP ${r.status} with ${r.body.length} bytes`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return (e as { partial?: Buffer }).partial ?? Buffer.alloc(0);
  }
};

test('without faults it forwards requests and raw bodies, several on one keep-alive connection', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 3; i++) assert.equal((await call(proxy.url, '/echo', { agent, body: `hello ${i}` })).body.toString(), `hello ${i}`);
  const clientSockets = new Set<unknown>();
  agent.on('free', (s) => clientSockets.add(s));
  await call(proxy.url, '/count', { agent });
  await call(proxy.url, '/count', { agent });
  assert.equal(clientSockets.size, 1, 'the client kept one connection to the proxy');
  assert.deepEqual(new Set(up.seen.map((s) => s.socket)).size, 1, 'the proxy kept one connection to the server');
  const gz = await call(proxy.url, '/gzip', { agent });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(gz.body, gzipSync(JSON.stringify({ hello: 'world' })), 'a gzipped body passes untouched');
  const stream = await call(proxy.url, '/stream', { agent });
  assert.equal(stream.body.length, 10_000);
  assert.deepEqual(proxy.fired, { delay: 0, drop: 0, 'reset-request': 0, 'reset-response': 0, 'lose-reply': 0, duplicate: 0 });
});

test('drop: the request never reaches the server and the connection is destroyed; the next one passes', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'drop', path: '/echo' });
  await broken(call(proxy.url, '/echo', { body: 'lost' }));
  assert.equal(up.seen.length, 0);
  assert.equal((await call(proxy.url, '/echo', { body: 'kept' })).body.toString(), 'kept');
  assert.equal(proxy.fired.drop, 1);
});

test('rules match by path prefix, in order, and times counts them down (Infinity until healed)', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'drop', path: '/count', times: 2 });
  proxy.inject({ kind: 'drop', path: '/ec', times: Infinity });
  assert.equal((await call(proxy.url, '/big')).body.length, 20_000, 'an unmatched path passes');
  await broken(call(proxy.url, '/count'));
  await broken(call(proxy.url, '/count'));
  assert.equal((await call(proxy.url, '/count')).body.toString(), '2', 'the third /count passes');
  for (let i = 0; i < 3; i++) await broken(call(proxy.url, '/echo', { body: 'x' }));
  assert.equal(proxy.fired.drop, 5);
  proxy.heal();
  assert.equal((await call(proxy.url, '/echo', { body: 'healed' })).body.toString(), 'healed');
});

test('reset-request: the server sees a truncated body, the client a broken connection', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'reset-request' });
  const body = 'z'.repeat(10_000);
  await broken(call(proxy.url, '/echo', { body }));
  for (let i = 0; i < 500 && !(up.seen[0] && up.seen[0].body.length > 0); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(up.seen.length, 1);
  assert.equal(up.seen[0]!.complete, false, 'the request never ended');
  assert.ok(up.seen[0]!.body.length > 0 && up.seen[0]!.body.length < body.length, `part of the body arrived (${up.seen[0]!.body.length} bytes)`);
  assert.equal(proxy.fired['reset-request'], 1);
});

test('reset-response: the client gets part of the body, with and without Content-Length', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'reset-response', path: '/big' });
  proxy.inject({ kind: 'reset-response', path: '/stream' });
  const big = await broken(call(proxy.url, '/big'));
  assert.ok(big.length > 0 && big.length < 20_000, `part of a sized body arrived (${big.length} bytes)`);
  const stream = await broken(call(proxy.url, '/stream'));
  assert.ok(stream.length > 0 && stream.length < 10_000, `part of a streamed body arrived (${stream.length} bytes)`);
  assert.equal(up.seen.filter((s) => s.complete).length, 2, 'both requests reached the server whole');
  assert.equal(proxy.fired['reset-response'], 2);
});

test('lose-reply: the server handled the request, the client never hears', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'lose-reply' });
  assert.deepEqual(await broken(call(proxy.url, '/echo', { body: 'committed' })), Buffer.alloc(0));
  assert.equal(up.seen.length, 1);
  assert.equal(up.seen[0]!.complete, true);
  assert.equal(up.seen[0]!.body.toString(), 'committed');
  assert.equal(proxy.fired['lose-reply'], 1);
});

test('duplicate: the server gets the request twice, the client the second reply', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'duplicate', path: '/count' });
  assert.equal((await call(proxy.url, '/count', { method: 'POST', body: 'twice' })).body.toString(), '2');
  assert.deepEqual(up.seen.map((s) => s.body.toString()), ['twice', 'twice']);
  assert.equal(proxy.fired.duplicate, 1);
});

test('delay: a delayed request is overtaken by one sent after it', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  proxy.inject({ kind: 'delay', path: '/echo', delayMs: 1500 });
  const slow = call(proxy.url, '/echo', { body: 'slow' });
  // the fast request starts once the slow one is held in the proxy
  for (let i = 0; i < 500 && proxy.fired.delay === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const fast = call(proxy.url, '/echo', { body: 'fast' });
  assert.equal((await fast).body.toString(), 'fast');
  assert.equal((await slow).body.toString(), 'slow');
  assert.deepEqual(up.seen.map((s) => s.body.toString()), ['fast', 'slow']);
});

test('partition cuts open connections and refuses new ones until it ends; retarget follows a moved server', async (t) => {
  const up = await upstream(t);
  const proxy = await proxyTo(t, up.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  await call(proxy.url, '/count', { agent });
  let closed = false;
  const [open] = Object.values(agent.freeSockets).flat();
  assert.ok(open, 'a keep-alive connection is open');
  open.once('close', () => (closed = true));
  proxy.partition(true);
  for (let i = 0; i < 500 && !closed; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(closed, 'the open connection was cut');
  await broken(call(proxy.url, '/count'));
  await broken(call(proxy.url, '/count'));
  assert.equal(up.seen.length, 1, 'nothing passed during the partition');
  proxy.partition(false);
  assert.equal((await call(proxy.url, '/count', { agent })).body.toString(), '2');

  const other = await upstream(t);
  proxy.retarget(other.url);
  assert.equal((await call(proxy.url, '/count', { agent })).body.toString(), '1', 'the new server answered');
  proxy.partition(true);
  proxy.heal();
  assert.equal((await call(proxy.url, '/count')).body.toString(), '2', 'heal ends a partition');
});

// ---- against a real hub ----------------------------------------------------

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function logDuplicates(hub: MatrixHub): Promise<number> {
  const r = await hub.web.query<{ n: number }>("SELECT COUNT(*) AS n FROM (SELECT origin, tbl, pk, hlc FROM _outpost_log WHERE op NOT IN ('R', 'X') GROUP BY origin, tbl, pk, hlc HAVING COUNT(*) > 1) d");
  return Number(r[0]!.n);
}

const unreachable = (e: unknown): boolean => e instanceof OutpostError && e.code === 'HUB_UNREACHABLE';

/** Faults that kill the connection before any reply: the node sends such a request once more. */
const RETRIED = new Set<string>(['drop', 'reset-request', 'lose-reply']);

test('every fault on push, pull and snapshot against a real hub: the failed sync says so, the next one heals', async (t) => {
  const dir = tempDir(t);
  const hub = await startMatrixHub(t, 'sqlite', dir, { config: { limits: { pullPage: 5, bodyBytes: 16 * 1024 * 1024 } } });
  const proxy = await proxyTo(t, hub.url);
  const a = await joinMatrixLab(t, hub, 'sqlite', dir, 'lab-a', { hubUrl: proxy.url });
  const b = await joinMatrixLab(t, hub, 'sqlite', dir, 'lab-b', { hubUrl: proxy.url });
  let n = 0;
  const write = async (): Promise<void> => {
    for (let i = 0; i < 12; i++) {
      n++;
      await a.app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)", ID(n), `item ${n}`, n);
    }
    await a.app.run('UPDATE items SET quantity = quantity + 1 WHERE id = ?', ID(1));
  };
  const kinds = ['drop', 'reset-request', 'reset-response', 'lose-reply', 'duplicate', 'delay'] as const;
  for (const kind of kinds) {
    for (const path of ['/v1/push', '/v1/pull']) {
      await write();
      // A request whose connection dies before any reply is sent once more by the node: those faults hit twice.
      const times = RETRIED.has(kind) ? 2 : 1;
      proxy.inject({ kind, path, delayMs: 50, times });
      const lab = path === '/v1/push' ? a : b;
      const before = proxy.fired[kind];
      const first = await lab.agent.sync().then(() => null, (e: unknown) => e);
      assert.equal(proxy.fired[kind], before + times, `${kind} on ${path} fired`);
      if (kind === 'duplicate' || kind === 'delay') assert.equal(first, null, `${kind} on ${path} does not fail the sync`);
      else if (kind === 'reset-request' && path === '/v1/pull') assert.ok(unreachable(first), 'a pull has no body: dropped');
      else assert.ok(unreachable(first), `${kind} on ${path}: HUB_UNREACHABLE, got ${String(first)}`);
      await a.agent.sync();
      await b.agent.sync();
      assert.equal(await logDuplicates(hub), 0, `no change entered the hub's log twice after ${kind} on ${path}`);
      for (const lab of [a, b]) assert.deepEqual(await canonicalRows(lab.db, 'items'), await canonicalRows(hub.db, 'items'), `${lab.name} equals the hub after ${kind} on ${path}`);
    }
  }
  assert.equal((await canonicalRows(hub.db, 'items')).length, n);

  // The snapshot: a new lab's first sync breaks off; its next sync takes the snapshot again.
  for (const kind of ['drop', 'reset-response', 'lose-reply', 'duplicate', 'delay'] as const) {
    const name = `snap-${kind}`;
    await newDatabase(t, 'sqlite', dir, name);
    const db = await openAdapter(`sqlite:${dir}/${name}.db`);
    t.after(() => db.close());
    const { code } = await addNode(hub.db, name);
    proxy.inject({ kind, path: '/v1/snapshot', delayMs: 50, times: RETRIED.has(kind) ? 2 : 1 });
    const joined = await NodeAgent.join(db, proxy.url, code).then(() => null, (e: unknown) => e);
    assert.equal(proxy.fired[kind] >= 1, true);
    if (kind === 'duplicate' || kind === 'delay') assert.equal(joined, null);
    else assert.ok(unreachable(joined), `${kind} on the snapshot: HUB_UNREACHABLE, got ${String(joined)}`);
    await (await NodeAgent.open(db)).sync();
    assert.deepEqual(await canonicalRows(db, 'items'), await canonicalRows(hub.db, 'items'), `the lab equals the hub after ${kind} on the snapshot`);
  }
  assert.equal(await logDuplicates(hub), 0);
});

test('a snapshot whose hub goes silent fails after the agent\'s timeout instead of waiting for ever', async (t) => {
  const dir = tempDir(t);
  const hub = await startMatrixHub(t, 'sqlite', dir);
  const proxy = await proxyTo(t, hub.url);
  await newDatabase(t, 'sqlite', dir, 'lab-a');
  const db = await openAdapter(`sqlite:${dir}/lab-a.db`);
  t.after(() => db.close());
  const { code } = await addNode(hub.db, 'lab-a');
  // Held far longer than the timeout: before the fix the snapshot had no timeout at all.
  proxy.inject({ kind: 'delay', path: '/v1/snapshot', delayMs: 20_000 });
  await assert.rejects(NodeAgent.join(db, proxy.url, code, { timeoutMs: 300 }), (e: unknown) => unreachable(e) && /no data from the hub for 0.3 s/.test((e as Error).message));
  proxy.heal();
  await (await NodeAgent.open(db, { timeoutMs: 300 })).sync();
  assert.deepEqual(await canonicalRows(db, 'categories'), await canonicalRows(hub.db, 'categories'));
});
