import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outpost } from '../helpers/cli.ts';
import { hubWithLabs, queryAll } from '../helpers/fixtures.ts';
import { buildServer } from '../../src/hub/server.ts';

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

test('outpost purge removes what every live node has pulled past and reports it; a node database is refused', async (t) => {
  const { dir, hub, labs: [a] } = await hubWithLabs(t, ['lab-a']);
  const insert = a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, 1)");
  for (let n = 1; n <= 3; n++) insert.run(ID(n), `item ${n}`);
  await a!.agent.sync();
  a!.app.prepare('DELETE FROM items WHERE id = ?').run(ID(2));
  await a!.agent.sync();
  await a!.agent.sync();
  const count = (sql: string): number => queryAll<{ n: number }>(hub.dbPath, sql)[0]!.n;
  const log = count('SELECT COUNT(*) AS n FROM _outpost_log');
  const head = count('SELECT MAX(seq) AS n FROM _outpost_log');
  assert.equal(count('SELECT COUNT(*) AS n FROM _outpost_rows WHERE ex = 0'), 1);

  const r = outpost(dir, ['purge', '--db', `sqlite:${hub.dbPath}`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(
    { ok: out.ok, log: out.log, markers: out.markers, staged: out.staged, purgedThrough: out.purgedThrough, live: out.live, expired: out.expired },
    { ok: true, log: log - 1, markers: 1, staged: 0, purgedThrough: head, live: ['lab-a'], expired: [] },
  );
  assert.equal(count('SELECT COUNT(*) AS n FROM _outpost_log'), 1, 'the log head is kept');
  assert.equal(count('SELECT COUNT(*) AS n FROM _outpost_rows WHERE ex = 0'), 0);

  const again = outpost(dir, ['purge', '--db', `sqlite:${hub.dbPath}`]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^purged 0 log entries, 0 delete markers, 0 staged push pages; log purged through seq \d+\n  live nodes: lab-a\n$/);

  const refused = outpost(dir, ['purge', '--db', `sqlite:${a!.path}`, '--json']);
  assert.equal(refused.code, 2);
  assert.equal((JSON.parse(refused.stdout) as { code: string }).code, 'BAD_REQUEST');

  // The running hub still serves the node after the purge, and counts purges in its metrics.
  a!.app.prepare("UPDATE items SET quantity = 5 WHERE id = ?").run(ID(1));
  assert.equal((await a!.agent.sync()).pushed, 1);
  const metricsApp = await buildServer(hub.hub);
  t.after(() => metricsApp.close());
  a!.app.prepare('DELETE FROM items WHERE id = ?').run(ID(3));
  await a!.agent.sync();
  await a!.agent.sync();
  const p = await hub.hub.purge();
  assert.ok(p.log > 0 && p.markers === 1);
  const text = (await metricsApp.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, new RegExp(`outpost_purged_total\\{what="log"\\} ${p.log}\\n`));
  assert.match(text, /outpost_purged_total\{what="markers"\} 1\n/);
});
