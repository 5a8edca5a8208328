import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { tempDir, startHub, joinNode, rowsOf } from '../helpers/fixtures.ts';

/** A website process: its own connection, many small transactions, as fast as it can. */
const WRITER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 10000');
const ins = db.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', ?, ?)");
const upd = db.prepare('UPDATE items SET quantity = quantity + 1 WHERE id = ?');
const stop = new Int32Array(workerData.stop);
let i = 0;
for (; Atomics.load(stop, 0) === 0; i++) {
  const id = '00000000-0000-4000-' + String(8000 + workerData.writer) + '-' + String(i).padStart(12, '0');
  db.transaction(() => { ins.run(id, 'w' + workerData.writer + ' #' + i, i); if (i % 3 === 0) upd.run(id); })();
  Atomics.wait(stop, 0, 0, 3); // a website between requests
}
db.close();
parentPort.postMessage(i);
`;

test('the pull cursor never skips a change while 8 writers commit on the hub', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir, { config: { limits: { pullPage: 50, bodyBytes: 16 * 1024 * 1024 } } });
  t.after(() => hub.close());
  const a = await joinNode(hub, dir, 'lab-a', { pageSize: 50 });
  const b = await joinNode(hub, dir, 'lab-b');
  t.after(() => a.close());
  t.after(() => b.close());
  const writers = 8;
  const stop = new SharedArrayBuffer(4);
  const module = (await import('node:module')).createRequire(import.meta.url).resolve('better-sqlite3');
  const done = Array.from({ length: writers }, (_, w) =>
    new Promise<number>((resolve, reject) => {
      const worker = new Worker(WRITER, { eval: true, workerData: { path: hub.dbPath, writer: w, module, stop } });
      worker.once('message', (n: number) => resolve(n));
      worker.once('error', reject);
    }),
  );
  // Meanwhile lab A pulls (small pages, so that pages end between commits) and lab B pushes its own writes, over and over.
  let pulls = 0;
  let i = 0;
  const started = Date.now();
  while (pulls < 20 && Date.now() - started < 4000) {
    b.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-b', 'from B', 1)").run(`00000000-0000-4000-9999-${String(i++).padStart(12, '0')}`);
    await Promise.all([a.agent.sync(), b.agent.sync()]);
    pulls++;
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const written = (await Promise.all(done)).reduce((x, y) => x + y, 0);
  await b.agent.sync();
  await a.agent.sync();
  const hubRows = rowsOf(hub.dbPath, 'items');
  assert.equal(hubRows.length, written + i);
  assert.ok(written > writers * 10, `the writers committed ${written} transactions while lab A synced ${pulls} times`);
  assert.deepEqual(rowsOf(a.path, 'items'), hubRows, 'lab A has every row at its latest value');
});
