import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, startHub, startHubOn, joinNode, rowsOf, hubApp, queryAll } from '../helpers/fixtures.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import { runLoop } from '../../src/node/run-loop.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { BIN } from '../helpers/cli.ts';
import { addNode } from '../../src/hub/enrollment.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const logCount = (path: string, pk: string): number =>
  queryAll<{ n: number }>(path, 'SELECT COUNT(*) AS n FROM _outpost_log WHERE pk = ?', JSON.stringify([pk]))[0]!.n;

test('a reply lost once is asked for again at once: the sync completes, the hub applied the push once', async (t) => {
  const dir = tempDir(t);
  let drops = 1;
  const hub = await startHub(dir, {
    setup: (app) =>
      app.addHook('onSend', async (req, _reply, payload) => {
        if (req.url === '/v1/push' && drops > 0) {
          drops--;
          req.raw.socket.destroy(); // committed; this reply never arrives
        }
        return payload;
      }),
  });
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a');
  t.after(() => a.close());
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'flask', 10)").run(ID(1));
  const s = await a.agent.sync();
  assert.equal(drops, 0, 'the first reply was lost');
  assert.equal(s.pushed, 1);
  assert.equal(logCount(hub.dbPath, ID(1)), 1, 'the push sent again was acknowledged, not applied twice');
  assert.equal((await a.agent.status()).pending, 0, 'the node knows the hub has its change');
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(a.path, 'items'));
});

test('the connection drops after the hub committed a push: the retry applies nothing twice', async (t) => {
  const dir = tempDir(t);
  // Twice: the node sends a request once more when its connection dies before the reply.
  let drops = 2;
  const hub = await startHub(dir, {
    setup: (app) =>
      app.addHook('onSend', async (req, _reply, payload) => {
        if (req.url === '/v1/push' && drops > 0) {
          drops--;
          req.raw.socket.destroy(); // the group is committed; the reply never arrives
        }
        return payload;
      }),
  });
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a');
  t.after(() => a.close());
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'flask', 10)").run(ID(1));
  a.app.prepare("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES ('m1', ?, 'lab-a', 10, 'delivery')").run(ID(1));
  await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'HUB_UNREACHABLE');
  assert.equal(rowsOf(hub.dbPath, 'items').length, 1, 'the hub committed the group before the reply was lost');
  // More work happens on the lab before the retry.
  a.app.prepare("UPDATE items SET notes = 'after the cut' WHERE id = ?").run(ID(1));
  const s = await a.agent.sync();
  assert.equal(s.pushed, 1, 'only the new change is pushed again');
  assert.equal(logCount(hub.dbPath, ID(1)), 2, 'one log entry for the insert, one for the update');
  assert.equal(rowsOf(hub.dbPath, 'stock_movements').length, 1);
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(a.path, 'items'));
  assert.equal((await hub.hub.status()).conflicts, 0);
});

test('a push sent twice is acknowledged twice and applied once', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const { code } = await addNode(hub.hub.db, 'raw');
  const joined = await new HubClient(hub.url).join(code);
  const client = new HubClient(hub.url, joined.token);
  const hs = await client.handshake({ protocol: 1, schemaVersion: null });
  const push = {
    from: 0, to: 3, page: 0, pages: 1, cursor: 0, clock: hs.clock,
    changes: [{ table: 'items', pk: [ID(7)], op: 'I' as const, hlc: hs.clock, cols: { id: ID(7), lab_id: 'lab-a', name: 'x', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00Z' } }],
  };
  const first = await client.push(push);
  const second = await client.push(push);
  assert.deepEqual([first.applied, first.duplicate, first.ack], [1, false, 3]);
  assert.deepEqual([second.applied, second.duplicate, second.ack], [0, true, 3]);
  assert.equal(logCount(hub.dbPath, ID(7)), 1);
});

test('the hub is down while a lab syncs: it retries with backoff and converges when the hub is back', async (t) => {
  const dir = tempDir(t);
  let hub = await startHub(dir);
  const port = Number(new URL(hub.url).port);
  const a = await joinNode(hub, dir, 'lab-a');
  const b = await joinNode(hub, dir, 'lab-b');
  t.after(() => a.close());
  t.after(() => b.close());
  await hub.close();
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'written offline', 3)").run(ID(1));
  await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'HUB_UNREACHABLE' && /cannot reach the hub/.test(e.message));
  assert.equal((await a.agent.status()).pending, 1, 'the offline write is kept');

  const ctrl = new AbortController();
  const errors: number[] = [];
  let synced = 0;
  const loop = runLoop(a.agent, {
    intervalMs: 50, baseBackoffMs: 20, maxBackoffMs: 200, signal: ctrl.signal,
    onError: (_e, ms) => errors.push(ms),
    onSync: (s) => { if (s.pushed > 0) synced++; if (synced) ctrl.abort(); },
  });
  for (let i = 0; i < 1000 && errors.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(errors.length >= 3, `retried while the hub was down (${errors.length} tries)`);
  assert.ok(errors.every((ms) => ms <= 200), 'backoff stays within its cap');
  hub = await startHubOn(hub.dbPath, { port });
  t.after(() => hub.close());
  await loop;
  assert.equal(synced, 1);
  await b.agent.sync();
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.equal(rowsOf(b.path, 'items').length, 1);
});

test('a lab killed (SIGKILL) in the middle of a pull resumes: nothing lost, nothing doubled', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, {
    config: { limits: { pullPage: 25, bodyBytes: 16 * 1024 * 1024 } },
    setup: (app) => app.addHook('onRequest', async (req) => { if (req.url.startsWith('/v1/pull')) await new Promise((r) => setTimeout(r, 15)); }),
  });
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a');
  const web = hubApp(hub);
  const ins = web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', ?, ?)");
  web.transaction(() => { for (let i = 1; i <= 1000; i++) ins.run(ID(i), `hub item ${i}`, i); })();
  web.close();
  await hub.hub.sequencePending();
  await a.close(); // the agent runs in its own process below

  const cursorOf = (): number => Number(queryAll<{ v: string }>(a.path, "SELECT v FROM _outpost_state WHERE k = 'cursor'")[0]!.v);
  const start = cursorOf();
  const child = spawn(process.execPath, [BIN, 'sync', '--db', `sqlite:${a.path}`], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 3000 && cursorOf() < start + 200; i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  const mid = cursorOf();
  assert.ok(mid > start && mid < start + 1000, `killed mid-pull (cursor ${start} -> ${mid})`);
  const db = new Database(a.path);
  assert.equal((db.pragma('integrity_check', { simple: true }) as string), 'ok');
  const partial = (db.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n;
  db.close();
  assert.equal(partial, mid - start, 'every applied page moved the cursor in the same transaction');

  const { SqliteAdapter } = await import('../../src/adapters/sqlite/sqlite-adapter.ts');
  const { NodeAgent } = await import('../../src/node/agent.ts');
  const again = new SqliteAdapter(a.path);
  t.after(() => again.close());
  const s = await (await NodeAgent.open(again)).sync();
  assert.equal(s.pulled, 1000 - (mid - start));
  assert.deepEqual(rowsOf(a.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.equal((await (await NodeAgent.open(again)).status()).pending, 0, 'applied rows were not captured as local changes');
});

test('a lab database restored from a backup is refused, not silently trimmed', async (t) => {
  const { hubWithLabs } = await import('../helpers/fixtures.ts');
  const { copyFileSync } = await import('node:fs');
  const { hub, labs, dir } = await hubWithLabs(t, ['lab-a']);
  const a = labs[0]!;
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'before the backup', 1)").run(ID(1));
  await a.agent.sync();
  a.app.pragma('wal_checkpoint(TRUNCATE)');
  copyFileSync(a.path, join(dir, 'backup.db'));
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'after the backup', 2)").run(ID(2));
  await a.agent.sync();
  await a.close();
  copyFileSync(join(dir, 'backup.db'), a.path);
  const { SqliteAdapter } = await import('../../src/adapters/sqlite/sqlite-adapter.ts');
  const { NodeAgent } = await import('../../src/node/agent.ts');
  const restored = new SqliteAdapter(a.path);
  t.after(() => restored.close());
  const app = new Database(a.path);
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'written on the restored copy', 3)").run(ID(3));
  app.close();
  const agent = await NodeAgent.open(restored);
  await assert.rejects(agent.sync(), (e: OutpostError) => e.code === 'NODE_STATE_BEHIND' && /restored from a backup/.test(e.message));
  assert.equal((await agent.status()).pending, 1, 'the write made on the restored copy is kept');
  assert.equal(rowsOf(hub.dbPath, 'items').length, 2);
});

test('a lab app in the agent\'s own process holds its write transaction across an await: the agent waits for it without blocking the process', async (t) => {
  const { hubWithLabs } = await import('../helpers/fixtures.ts');
  const { hub, labs } = await hubWithLabs(t, ['lab-a']);
  const a = labs[0]!;
  const insert = a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'in one transaction', 1)");
  a.app.exec('BEGIN IMMEDIATE');
  insert.run(ID(1));
  // The agent needs the write lock the app holds. Had it waited inside SQLite
  // (a busy wait), the process would stall and the app could never commit.
  const sync = a.agent.sync();
  await new Promise((r) => setTimeout(r, 50));
  insert.run(ID(2));
  a.app.exec('COMMIT');
  const s = await sync;
  assert.equal(s.pushed, 2, 'the transaction went up whole once committed');
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(a.path, 'items'));
});
