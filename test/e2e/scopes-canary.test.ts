import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readNodeState } from '../../src/node/node-state.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { formatHlc, type Change } from '../../src/protocol/index.ts';
import { hubApp, queryAll, startHub, tempDir, ROOT, type RunningHub } from '../helpers/fixtures.ts';
import { joinLabWithAttrs } from '../helpers/fixtures.ts';

/**
 * Canary rows planted in lab B's scope (and lab C's): lab A must not read or
 * write them by any path. Every response the hub sends lab A's credential
 * is recorded and searched for the canaries' values (and, until lab A names
 * a canary's key itself, for their keys); then lab A's credential is used
 * for crafted requests: keys of canaries, updates that move rows across
 * scopes, other cursors, table and column names, spoofed node ids and origins.
 */
const SCOPED = loadHubConfig(join(ROOT, 'examples/oims/outpost.scoped.config.json'));
const SECRET = 'CANARY-SECRET';
const NEVER = formatHlc({ wall: 0, counter: 0, node: 'hub' });

const lab = (hub: RunningHub, dir: string, name: string, labId: string) => joinLabWithAttrs(hub, dir, name, { lab_id: labId });

test('lab A cannot read or write lab B\'s canary rows by any path', async (t) => {
  const dir = tempDir(t);
  const seen: { url: string; body: string }[] = [];
  let tokenA = '';
  const hub = await startHub(dir, {
    config: SCOPED,
    setup: (app) => app.addHook('onSend', async (req, _reply, payload) => {
      if (tokenA && req.headers.authorization === `Bearer ${tokenA}`) {
        if (typeof payload === 'string') seen.push({ url: req.url, body: payload });
        else if (payload && typeof (payload as NodeJS.ReadableStream).on === 'function') {
          // The snapshot is a stream: recorded as it goes by.
          const rec = { url: req.url, body: '' };
          seen.push(rec);
          (payload as NodeJS.ReadableStream).on('data', (c: Buffer) => (rec.body += c.toString()));
        }
      }
      return payload;
    }),
  });
  t.after(() => hub.close());
  const web = hubApp(hub);
  t.after(() => web.close());
  const ins = web.prepare('INSERT INTO items (id, lab_id, name, serial_number, quantity) VALUES (?, ?, ?, ?, 1)');
  ins.run('a-1', 'lab-a', 'beaker', 'SN-A1');
  ins.run('canary-1', 'lab-b', `${SECRET}-1`, `${SECRET}-SN1`);
  ins.run('canary-3', 'lab-c', `${SECRET}-3`, `${SECRET}-SN3`);

  const a = await lab(hub, dir, 'lab-a', 'lab-a');
  const b = await lab(hub, dir, 'lab-b', 'lab-b');
  t.after(() => a.close());
  t.after(() => b.close());
  const stateA = await a.db.read(readNodeState);
  const stateB = await b.db.read(readNodeState);
  tokenA = stateA.token;

  // Lab B writes a canary of its own; the website edits, moves (B → C → B), deletes and re-creates canaries; lab A works on its own rows.
  b.app.prepare('INSERT INTO items (id, lab_id, name, serial_number, quantity) VALUES (?, ?, ?, ?, 5)').run('canary-2', 'lab-b', `${SECRET}-2`, `${SECRET}-SN2`);
  await b.agent.sync();
  await a.agent.sync();
  web.prepare(`UPDATE items SET name = '${SECRET}-1b' WHERE id = 'canary-1'`).run();
  web.prepare("UPDATE items SET lab_id = 'lab-c' WHERE id = 'canary-2'").run();
  web.prepare("UPDATE items SET lab_id = 'lab-b' WHERE id = 'canary-2'").run();
  web.prepare("DELETE FROM items WHERE id = 'canary-3'").run();
  ins.run('canary-3', 'lab-c', `${SECRET}-3b`, `${SECRET}-SN3b`);
  a.app.prepare("UPDATE items SET quantity = 7 WHERE id = 'a-1'").run();
  a.app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('a-2', 'lab-a', 'pipette', 2)").run();
  await a.agent.sync();
  await b.agent.sync();
  b.app.prepare(`UPDATE items SET quantity = 6, serial_number = '${SECRET}-SN2b' WHERE id = 'canary-2'`).run();
  await b.agent.sync();
  await a.agent.sync();

  // Lab A's database holds its own rows only; B's holds B's.
  assert.deepEqual(queryAll(a.path, 'SELECT id FROM items ORDER BY id'), [{ id: 'a-1' }, { id: 'a-2' }]);
  assert.deepEqual(queryAll(b.path, 'SELECT id FROM items ORDER BY id'), [{ id: 'canary-1' }, { id: 'canary-2' }]);

  const as = (method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    hub.app.inject({ method, url, headers: { authorization: `Bearer ${tokenA}`, ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });

  // Reads by every path: pulls from any cursor (B's, zero, past the end; pages of 1), the snapshot, verify.
  const cursors = [0, 1, 2, stateB.cursor, (await b.db.read(readNodeState)).cursor, 10_000];
  for (const after of cursors) for (const limit of [1, 3, 5000]) assert.equal((await as('GET', `/v1/pull?after=${after}&limit=${limit}`)).statusCode, 200);
  assert.equal((await as('GET', '/v1/pull?after=0&limit=1&nodeId=' + stateB.nodeId, undefined, { 'x-node-id': stateB.nodeId })).statusCode, 200);
  const snap = await as('GET', '/v1/snapshot');
  assert.equal(snap.statusCode, 200);
  seen.push({ url: '/v1/snapshot (inject)', body: snap.body });
  const sums = await as('POST', '/v1/verify/sums', { table: 'items', buckets: 4, schemaVersion: hub.hub.catalogue.version });
  assert.equal(sums.statusCode, 200);
  assert.equal(sums.json().rows, 2, 'verify counts lab A\'s rows only');
  const rows = await as('POST', '/v1/verify/rows', { table: 'items', buckets: 4, ids: [0, 1, 2, 3] });
  assert.deepEqual((rows.json().rows as { pk: string[] }[]).map((r) => r.pk[0]).sort(), ['a-1', 'a-2']);

  // Nothing lab A received so far names a canary, by value or by key.
  assert.ok(seen.length > 20, `responses recorded: ${seen.length}`);
  for (const r of seen) {
    assert.ok(!r.body.includes(SECRET), `${r.url} leaked a canary value`);
    assert.ok(!r.body.includes('canary-'), `${r.url} leaked a canary key`);
  }

  // Lab A now names canary keys itself: verify fetch answers as if the rows did not exist.
  const fetched = await as('POST', '/v1/verify/fetch', { table: 'items', pks: [['canary-1'], ['canary-2'], ['canary-3'], ['a-1']], after: 0 });
  assert.equal(fetched.statusCode, 200);
  const f = fetched.json().rows as { pk: string[]; values: unknown; hlc: unknown }[];
  assert.deepEqual(f.slice(0, 3).map((r) => [r.values, r.hlc]), [[null, null], [null, null], [null, null]]);
  assert.equal((f[3]!.values as { name: string }).name, 'beaker');

  // Crafted pushes with lab A's credential. Each is refused or quarantined; none changes a canary.
  const hubRows = () => queryAll(hub.dbPath, "SELECT * FROM items WHERE id LIKE 'canary-%' ORDER BY id");
  const before = hubRows();
  const acked = (await a.db.read(readNodeState)).acked;
  let seq = acked + 1000;
  const push = (changes: unknown[], extra: Record<string, unknown> = {}) => {
    const from = seq;
    seq += 10;
    return as('POST', '/v1/push', { from, to: from + 1, page: 0, pages: 1, cursor: 0, clock: formatHlc({ wall: Date.now(), counter: 0, node: stateA.nodeId }), changes, ...extra });
  };
  const stamp = (n: number) => formatHlc({ wall: Date.now() + 1000, counter: n, node: stateA.nodeId });
  const outOfScope: Change[] = [
    { table: 'items', pk: ['canary-1'], op: 'U', hlc: stamp(1), cols: { name: 'pwned' } },
    { table: 'items', pk: ['canary-1'], op: 'U', hlc: stamp(2), cols: { lab_id: 'lab-a' } },
    { table: 'items', pk: ['canary-2'], op: 'D', hlc: stamp(3) },
    { table: 'items', pk: ['canary-3'], op: 'I', hlc: stamp(4), cols: { id: 'canary-3', lab_id: 'lab-a', name: 'mine now', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00.000Z' } },
    { table: 'items', pk: ['a-1'], op: 'U', hlc: stamp(5), cols: { lab_id: 'lab-b' } },
    { table: 'items', pk: ['new-x'], op: 'I', hlc: stamp(6), cols: { id: 'new-x', lab_id: 'lab-b', name: 'smuggled', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00.000Z' } },
    { table: 'stock_movements', pk: ['m-1'], op: 'I', hlc: stamp(7), cols: { id: 'm-1', item_id: 'canary-1', lab_id: 'lab-b', delta: -1, reason: 'x', moved_at: '2026-01-01' } },
    { table: 'items', pk: ['never-was'], op: 'U', hlc: stamp(8), cols: { name: 'ghost' } },
  ];
  for (const c of outOfScope) {
    const r = await push([c]);
    assert.equal(r.statusCode, 200, r.body);
    const q = r.json().quarantined as { code: string }[];
    assert.deepEqual(q.map((x) => x.code), ['OUT_OF_SCOPE'], `${c.op} ${c.table} ${JSON.stringify(c.pk)}`);
    assert.ok(!r.body.includes(SECRET), 'a refusal names no value of the hub\'s row');
  }
  // Spoofed origin field: ignored (logged as lab A's own).
  const spoof = await push([{ table: 'items', pk: ['a-2'], op: 'U', hlc: stamp(9), cols: { name: 'beaker 2' }, origin: stateB.nodeId }]);
  assert.equal(spoof.statusCode, 200, spoof.body);
  assert.deepEqual(queryAll(hub.dbPath, "SELECT origin FROM _outpost_log WHERE pk = '[\"a-2\"]' AND cols LIKE '%beaker 2%'"), [{ origin: stateA.nodeId }]);
  // A spoofed node id in the body, unknown tables and columns, bookkeeping tables, SQL in names: 4xx, nothing applied.
  const refusals: [unknown[], Record<string, unknown>][] = [
    [[{ table: 'items', pk: ['canary-1'], op: 'U', hlc: stamp(10), cols: { name: 'x' } }], { nodeId: stateB.nodeId }],
    [[{ table: '_outpost_nodes', pk: [stateB.nodeId], op: 'D', hlc: stamp(11) }], {}],
    [[{ table: '_outpost_scope_rows', pk: ['items', '["canary-1"]'], op: 'D', hlc: stamp(12) }], {}],
    [[{ table: 'items; DROP TABLE items', pk: ['x'], op: 'D', hlc: stamp(13) }], {}],
    [[{ table: 'items', pk: ['canary-1'], op: 'U', hlc: stamp(14), cols: { "lab_id = 'lab-a' --": 1 } }], {}],
    [[{ table: 'items', pk: ['canary-1'], op: 'U', hlc: stamp(15), cols: JSON.parse('{"__proto__": {"lab_id": "lab-a"}}') as Record<string, string> }], {}],
    [[{ table: 'items', pk: ['canary-1'], op: 'U', hlc: stamp(16), cols: { name: 'x' }, restate: true }], {}],
    [[{ table: 'labs', pk: ['lab-b'], op: 'U', hlc: stamp(17), cols: { name: 'x' } }], {}],
  ];
  for (const [changes, extra] of refusals) {
    const r = await push(changes, extra);
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode} ${r.body}`);
    assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
  }
  assert.deepEqual(hubRows(), before, 'the canaries are as they were');
  assert.equal(queryAll(hub.dbPath, "SELECT COUNT(*) AS n FROM items WHERE id = 'new-x'")[0]!.n, 0);
  assert.equal(queryAll(hub.dbPath, 'SELECT COUNT(*) AS n FROM stock_movements')[0]!.n, 0);
  assert.equal(queryAll(hub.dbPath, "SELECT lab_id FROM items WHERE id = 'a-1'")[0]!.lab_id, 'lab-a');

  // What lab A pulls afterwards: for the canary keys it named, only deletes that carry nothing (lowest stamp); never a value.
  const after = await as('GET', '/v1/pull?after=0&limit=5000');
  for (const c of after.json().changes as Change[]) {
    if (String(c.pk[0]).startsWith('canary-')) assert.deepEqual(c, { table: 'items', pk: c.pk, op: 'D', hlc: NEVER, restate: true });
  }
  for (const r of seen) assert.ok(!r.body.includes(SECRET), `${r.url} leaked a canary value`);
  // Lab B still has its canaries as the hub does.
  await b.agent.sync();
  assert.deepEqual(queryAll(b.path, "SELECT id, name, serial_number, lab_id FROM items WHERE id LIKE 'canary-%' ORDER BY id"), queryAll(hub.dbPath, "SELECT id, name, serial_number, lab_id FROM items WHERE id LIKE 'canary-%' AND lab_id = 'lab-b' ORDER BY id"));
});
