import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, startHub, joinNode, rowsOf, oimsDatabase, OIMS_CONFIG, queryAll } from '../helpers/fixtures.ts';
import { BIN } from '../helpers/cli.ts';
import { delayProxy } from '../helpers/delay-proxy.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { DEFAULT_PAGE_SIZE, NodeAgent } from '../../src/node/agent.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import type { OutpostError } from '../../src/protocol/index.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const count = (path: string, sql: string): number => queryAll<{ n: number }>(path, sql)[0]!.n;
const until = async (ok: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 1000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
};
function addItems(path: string, n: number): void {
  const app = new Database(path);
  app.pragma('busy_timeout = 5000');
  const ins = app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)");
  app.transaction(() => { for (let i = 1; i <= n; i++) ins.run(ID(i), `item ${i}`, i); })();
  app.close();
}

test('a lab killed (SIGKILL) between the pages of a push: nothing is committed, the retry sends it all once', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, { setup: (app) => app.addHook('onRequest', async (req) => { if (req.url === '/v1/push') await new Promise((r) => setTimeout(r, 150)); }) });
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a');
  await a.close();
  const n = DEFAULT_PAGE_SIZE * 2 + 500; // three pages
  addItems(a.path, n);

  const child = spawn(process.execPath, [BIN, 'sync', '--db', `sqlite:${a.path}`], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  await until(() => count(hub.dbPath, 'SELECT COUNT(*) AS n FROM _outpost_staging') >= 1, 'the first page to be staged');
  child.kill('SIGKILL');
  await exited;
  assert.equal(rowsOf(hub.dbPath, 'items').length, 0, 'a staged page is not committed');

  const db = new SqliteAdapter(a.path);
  t.after(() => db.close());
  const s = await (await NodeAgent.open(db)).sync();
  assert.equal(s.pushed, n);
  assert.equal(rowsOf(hub.dbPath, 'items').length, n);
  assert.equal(count(hub.dbPath, "SELECT COUNT(*) AS n FROM _outpost_log WHERE tbl = 'items'"), n, 'each change entered the log once');
  assert.equal(count(hub.dbPath, 'SELECT COUNT(*) AS n FROM _outpost_staging'), 0);
});

test('the hub killed (SIGKILL) in the middle of a push group loses nothing and applies nothing twice', async (t) => {
  const dir = tempDir(t);
  const hubDb = oimsDatabase(join(dir, 'hub.db'));
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const startHubProcess = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [BIN, 'hub', '--db', `sqlite:${hubDb}`, '--port', String(port), '--config', OIMS_CONFIG], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('Add a lab:')) resolve(); });
      child.once('exit', (code) => reject(new Error(`hub exited ${code}`)));
    });
    return child;
  };
  let hub = await startHubProcess();
  t.after(() => hub.kill('SIGKILL'));
  const proxy = await delayProxy(`http://127.0.0.1:${port}`, '/v1/push', 100);
  t.after(() => proxy.close());

  const admin = new SqliteAdapter(hubDb);
  const { code } = await addNode(admin, 'lab-a');
  await admin.close();
  const path = join(dir, 'lab-a.db');
  const db = new SqliteAdapter(path);
  t.after(() => db.close());
  const { agent } = await NodeAgent.join(db, proxy.url, code, { pageSize: 100 });
  addItems(path, 1000); // ten pages of 100

  const syncing = agent.sync().then(() => null, (e: OutpostError) => e);
  await until(() => count(hubDb, 'SELECT COUNT(*) AS n FROM _outpost_staging') >= 3, 'three pages to be staged');
  hub.kill('SIGKILL');
  await new Promise((r) => hub.once('exit', r));
  const failed = await syncing;
  assert.equal(failed?.code, 'HUB_UNREACHABLE');
  const check = new Database(hubDb);
  assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
  check.close();
  assert.equal(rowsOf(hubDb, 'items').length, 0, 'nothing of the group was committed');

  hub = await startHubProcess();
  const s = await agent.sync();
  assert.equal(s.pushed, 1000);
  assert.equal(rowsOf(hubDb, 'items').length, 1000);
  assert.equal(count(hubDb, "SELECT COUNT(*) AS n FROM _outpost_log WHERE tbl = 'items'"), 1000);
  assert.deepEqual(rowsOf(path, 'items'), rowsOf(hubDb, 'items'));
});
