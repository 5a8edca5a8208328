import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { request } from 'node:http';
import { tempDir, startHub, joinNode, rowsOf, hubWithLabs, type TestNode } from '../helpers/fixtures.ts';
import type { OutpostError } from '../../src/protocol/index.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

test('a push too large for one page is staged and committed as one group', async (t) => {
  const dir = tempDir(t);
  let failLastPage = 1;
  const seen: { page: number; pages: number; gzip: boolean }[] = [];
  const hub = await startHub(dir, {
    setup: (app) =>
      app.addHook('preHandler', async (req) => {
        if (req.url !== '/v1/push') return;
        const b = req.body as { page: number; pages: number };
        seen.push({ page: b.page, pages: b.pages, gzip: req.headers['content-encoding'] === 'gzip' });
        if (b.page === b.pages - 1 && failLastPage-- > 0) throw new Error('injected failure before the last page is applied');
      }),
  });
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a', { pageSize: 10 });
  t.after(() => a.close());
  const ins = a.app.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', ?, ?, ?)");
  a.app.transaction(() => { for (let i = 1; i <= 35; i++) ins.run(ID(i), `item ${i}`, i, 'n'.repeat(60)); })();

  await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'INTERNAL' || e.code === 'HUB_ERROR');
  assert.deepEqual(seen.map((s) => s.page), [0, 1, 2, 3]);
  assert.ok(seen.every((s) => s.pages === 4));
  assert.equal(rowsOf(hub.dbPath, 'items').length, 0, 'no page is visible before the whole group commits');
  assert.equal((await a.agent.status()).pending, 35, 'the lab keeps every change until the group is acknowledged');

  const s = await a.agent.sync();
  assert.equal(s.pushed, 35);
  assert.equal(rowsOf(hub.dbPath, 'items').length, 35);
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(a.path, 'items'));
  assert.equal((await a.agent.status()).pending, 0);
  assert.ok(seen.some((x) => x.gzip), 'page bodies over 1 KiB travel gzip-compressed');
});

test('pull replies are gzip-compressed when the node accepts gzip', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  const ins = a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)");
  a.app.transaction(() => { for (let i = 1; i <= 50; i++) ins.run(ID(i), `item ${i}`, i); })();
  await a.agent.sync();
  const token = (await b.db.read((tx) => tx.getState('token')))!;
  const url = new URL(`${hub.url}/v1/pull?after=0`);
  const res = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    request(url, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ encoding: r.headers['content-encoding'], body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
  assert.equal(res.encoding, 'gzip');
  const page = JSON.parse(gunzipSync(res.body).toString()) as { changes: { table: string }[] };
  assert.equal(page.changes.filter((c) => c.table === 'items').length, 50);
});

test('the hub exposes Prometheus metrics', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b']);
  const [a, b] = labs as [TestNode, TestNode];
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'x', 1)").run(ID(1));
  await a.agent.sync();
  await b.agent.sync();
  const res = await fetch(`${hub.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  assert.match(text, /^outpost_pushed_changes_total 1$/m);
  assert.match(text, /^outpost_applied_changes_total 1$/m);
  assert.match(text, /^outpost_pulled_changes_total 1$/m);
  assert.match(text, /^outpost_snapshot_rows_total 14$/m);
  assert.match(text, /^outpost_requests_total\{route="\/v1\/push",status="200"\} 1$/m);
  assert.match(text, /^outpost_node_lag\{node="lab-b"\} 0$/m);
  assert.match(text, /^outpost_process_resident_memory_bytes \d+/m);
});

test('the snapshot stream is gzip-compressed when the node accepts gzip', async (t) => {
  const { hub, labs } = await hubWithLabs(t, ['lab-a']);
  const [a] = labs as [TestNode];
  const token = (await a.db.read((tx) => tx.getState('token')))!;
  const res = await new Promise<{ encoding: string | undefined; type: string | undefined; body: Buffer }>((resolve, reject) => {
    request(new URL(`${hub.url}/v1/snapshot`), { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ encoding: r.headers['content-encoding'], type: r.headers['content-type'], body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
  assert.equal(res.encoding, 'gzip');
  assert.match(res.type ?? '', /application\/x-ndjson/);
  const lines = gunzipSync(res.body).toString().trim().split('\n').map((l) => JSON.parse(l) as { type: string; rows?: number });
  assert.equal(lines[0]!.type, 'header');
  assert.deepEqual(lines.at(-1), { type: 'end', rows: 7 });
});
