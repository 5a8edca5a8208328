import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { Hub } from '../../src/hub/hub.ts';
import { buildServer } from '../../src/hub/server.ts';
import { HubLifecycle } from '../../src/hub/health.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { OIMS_CONFIG, hubWithLabs, oimsDatabase, queryAll, tempDir } from '../helpers/fixtures.ts';
import { BIN, freePort, outpost, startHubProcess } from '../helpers/cli.ts';

const ITEM = (n: number): string => `7b000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

test('healthz and readyz: ready while the database answers and the hub is not shutting down', async (t) => {
  const dir = tempDir(t);
  const db = new SqliteAdapter(oimsDatabase(join(dir, 'hub.db')));
  const hub = await Hub.open(db, loadHubConfig(OIMS_CONFIG));
  const lifecycle = new HubLifecycle();
  const app = await buildServer(hub, { lifecycle });
  t.after(() => app.close());
  const get = (url: string) => app.inject({ method: 'GET', url });

  assert.equal((await get('/healthz')).statusCode, 200);
  const ready = await get('/readyz');
  assert.equal(ready.statusCode, 200, ready.body);
  assert.equal(ready.json().ok, true);

  lifecycle.beginShutdown();
  for (const url of ['/readyz', '/v1/status', '/']) {
    const r = await get(url);
    assert.equal(r.statusCode, 503, url);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.json().code, 'SHUTTING_DOWN');
  }
  assert.equal((await get('/healthz')).statusCode, 200, 'alive while shutting down');
  assert.equal((await get('/metrics')).statusCode, 200);

  // the database gone (its connection closed): alive, not ready
  const app2 = await buildServer(hub, {});
  t.after(() => app2.close());
  await db.close();
  assert.equal((await app2.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const gone = await app2.inject({ method: 'GET', url: '/readyz' });
  assert.equal(gone.statusCode, 503);
  assert.equal(gone.json().code, 'DB_UNREACHABLE');
});

test('metrics: pushes and pulls by outcome, push-group apply and pull durations, per-node lag', async (t) => {
  const { hub, labs: [a, b] } = await hubWithLabs(t, ['lab-a', 'lab-b'], { lab: () => ({ pageSize: 2 }) });
  const ins = a!.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'tube', 1)");
  a!.app.transaction(() => { for (let i = 1; i <= 5; i++) ins.run(ITEM(i)); })();
  await a!.agent.sync(); // one group of 3 pages: 2 staged, 1 committed
  await b!.agent.sync();
  const text = (await hub.app.inject({ method: 'GET', url: '/metrics' })).body;
  const value = (name: string): number => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  assert.ok(value('outpost_pushes_total{outcome="committed"}') >= 1, text.slice(0, 2000));
  assert.equal(value('outpost_pushes_total{outcome="staged"}'), 2);
  assert.ok(value('outpost_pulls_total{outcome="ok"}') >= 2);
  assert.ok(value('outpost_push_apply_duration_seconds_count') >= 1);
  assert.ok(value('outpost_pull_duration_seconds_count') >= 2);
  assert.equal(value('outpost_node_lag{node="lab-b"}'), 0);
  for (const name of ['outpost_conflicts_total', 'outpost_conflicts_open', 'outpost_quarantined_total', 'outpost_quarantine_open', 'outpost_pushed_changes_total', 'outpost_pulled_changes_total']) {
    assert.ok(!Number.isNaN(value(name)), `${name} is exported`);
  }
  // a refused pull is counted as such
  const refused = await hub.app.inject({ method: 'GET', url: '/v1/pull?after=x', headers: { authorization: 'Bearer nope' } });
  assert.equal(refused.statusCode, 401);
  const again = (await hub.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(again, /^outpost_pulls_total\{outcome="refused"\} 1$/m);
});

test('SIGTERM during a multi-page push group: the hub finishes or abandons cleanly, exits 0; the node retries and nothing is lost', async (t) => {
  const dir = tempDir(t);
  oimsDatabase(join(dir, 'hub.db'));
  const port = await freePort();
  const args = ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG, '--shutdown-grace', '10'];
  const hub = await startHubProcess(dir, args);
  t.after(() => hub.kill('SIGKILL'));
  const code = outpost(dir, ['node', 'add', 'lab-a', '--db', 'sqlite:hub.db']).stdout.trim();
  const j = outpost(dir, ['join', '--hub', `http://127.0.0.1:${port}`, '--code', code, '--db', 'sqlite:lab-a.db']);
  assert.equal(j.code, 0, j.stderr);
  const N = 25_000; // 5 push pages of 5,000
  const lab = new Database(join(dir, 'lab-a.db'));
  const ins = lab.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)");
  lab.transaction(() => { for (let i = 1; i <= N; i++) ins.run(ITEM(i), `item ${i}`, i); })();
  lab.close();

  // the sync runs; once the hub has staged a page of the group, SIGTERM
  const sync = spawn(process.execPath, [BIN, 'sync', '--db', 'sqlite:lab-a.db', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let syncOut = '';
  sync.stdout.on('data', (c: Buffer) => (syncOut += c.toString()));
  const syncExit = once(sync, 'exit');
  const hubDb = join(dir, 'hub.db');
  for (let i = 0; i < 600; i++) {
    if (queryAll<{ n: number }>(hubDb, 'SELECT count(*) AS n FROM _outpost_staging')[0]!.n > 0) break;
    await sleep(50);
  }
  assert.ok(queryAll<{ n: number }>(hubDb, 'SELECT count(*) AS n FROM _outpost_staging')[0]!.n > 0, 'the push group was under way');
  const hubExit = once(hub, 'exit');
  hub.kill('SIGTERM');
  const [hubCode] = (await hubExit) as [number | null];
  assert.equal(hubCode, 0, 'the hub exits 0 after SIGTERM');
  const [syncCode] = (await syncExit) as [number | null];
  // the group was cut off (the node sees the hub as unreachable or shutting down), or its last page made it in the grace period
  assert.ok(syncCode === 3 || syncCode === 0, `sync exit ${syncCode}: ${syncOut}`);
  const committed = queryAll<{ n: number }>(hubDb, "SELECT count(*) AS n FROM items WHERE lab_id = 'lab-a'")[0]!.n;
  assert.ok(committed === 0 || committed === N, `a group is all or nothing: ${committed} rows`);

  // restart; the node's retry completes and every row is there
  const hub2 = await startHubProcess(dir, args);
  t.after(() => hub2.kill('SIGKILL'));
  const retry = outpost(dir, ['sync', '--db', 'sqlite:lab-a.db', '--json']);
  assert.equal(retry.code, 0, retry.stderr);
  assert.equal(queryAll<{ n: number }>(hubDb, "SELECT count(*) AS n FROM items WHERE lab_id = 'lab-a'")[0]!.n, N);
  const st = JSON.parse(outpost(dir, ['status', '--db', 'sqlite:lab-a.db', '--json']).stdout) as { pending: number; state: string };
  assert.equal(st.pending, 0);
  assert.equal(st.state, 'idle');
  const exit2 = once(hub2, 'exit');
  hub2.kill('SIGINT');
  assert.equal(((await exit2) as [number | null])[0], 0);
});
