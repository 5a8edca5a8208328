import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubWithLabs, queryAll, rowsOf, type RunningHub, type TestNode } from '../helpers/fixtures.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { OutpostError, formatHlc } from '../../src/protocol/index.ts';

const WEEK = 7 * 86_400_000;
const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function insertItem(db: TestNode['app'], n: number, name: string): void {
  db.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, 1)").run(ID(n), name);
}
const rename = (lab: TestNode, n: number, name: string): void => void lab.app.prepare('UPDATE items SET name = ? WHERE id = ?').run(name, ID(n));
const nameAt = (path: string, n: number): unknown => (queryAll<{ name: string }>(path, 'SELECT name FROM items WHERE id = ?', ID(n))[0] ?? { name: undefined }).name;

/** Everything a refused request could have changed at the hub. */
function hubState(hub: RunningHub): string {
  return ['items', '_outpost_log', '_outpost_rows', '_outpost_conflicts', '_outpost_staging', '_outpost_quarantine'].map((t) => JSON.stringify(queryAll(hub.dbPath, `SELECT * FROM ${t} ORDER BY 1`))).join('\n')
    + JSON.stringify(queryAll(hub.dbPath, "SELECT id, acked_seq, pulled_seq FROM _outpost_nodes ORDER BY 1"))
    + JSON.stringify(queryAll(hub.dbPath, "SELECT v FROM _outpost_state WHERE k = 'clock'"));
}

async function refused(p: Promise<unknown>): Promise<OutpostError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OutpostError, String(e));
    assert.equal(e.code, 'CLOCK_AHEAD', e.message);
    return e;
  }
  assert.fail('the sync was not refused');
}

/** Two labs on one hub; lab-a's wall clock is `offset.a` ms ahead (changed by the test as it goes). */
async function setup(t: Parameters<typeof hubWithLabs>[0], config: Record<string, unknown> = {}): Promise<{ hub: RunningHub; a: TestNode; b: TestNode; offset: { a: number } }> {
  const offset = { a: 0 };
  const { hub, labs } = await hubWithLabs(t, ['lab-a', 'lab-b'], { hub: { config }, lab: (n) => (n === 'lab-a' ? { now: () => Date.now() + offset.a } : {}) });
  const [a, b] = labs as [TestNode, TestNode];
  return { hub, a, b, offset };
}

test('a lab a week ahead is refused, keeps its changes, and after its clock is set right cannot overwrite later edits of others', async (t) => {
  const { hub, a, b, offset } = await setup(t);
  insertItem(a.app, 1, 'flask');
  insertItem(a.app, 2, 'beaker');
  await a.agent.sync();
  await b.agent.sync();
  assert.equal(nameAt(b.path, 1), 'flask');

  // The lab's clock jumps a week ahead; it edits both rows while it is wrong.
  offset.a = WEEK;
  rename(a, 1, 'flask (edited by A, clock a week ahead)');
  rename(a, 2, 'beaker (edited by A, clock a week ahead)');
  const before = hubState(hub);
  const e = await refused(a.agent.sync());
  assert.match(e.message, /ahead of the hub's/);
  assert.match(e.message, /Set the clock right/);
  assert.match(e.message, /2 pending change\(s\) are kept/);
  assert.equal(hubState(hub), before, 'a refused sync changed nothing at the hub (not even its clock)');
  assert.equal(nameAt(a.path, 1), 'flask (edited by A, clock a week ahead)', 'the lab keeps its edit');
  assert.equal((await a.agent.status()).pending, 2);
  assert.match((await a.agent.status()).lastError ?? '', /ahead of the hub's/);
  // Refused again while the clock stays wrong.
  await refused(a.agent.sync());
  assert.equal(hubState(hub), before);

  // Meanwhile (later in real time) lab-b edits row 1.
  rename(b, 1, 'flask (edited by B, later)');
  await b.agent.sync();

  // The lab's clock is set right: its changes are re-stamped (moved back by
  // the error the hub measured) and go up; B's later edit of row 1 stands,
  // A's edit of row 2 (nobody else's) is applied.
  offset.a = 0;
  const s = await a.agent.sync();
  assert.equal(s.pushed, 2);
  assert.equal(nameAt(hub.dbPath, 1), 'flask (edited by B, later)', 'the lab that was ahead did not overwrite a later edit');
  assert.equal(nameAt(hub.dbPath, 2), 'beaker (edited by A, clock a week ahead)', 'its write is not lost');
  const lost = queryAll<{ lost: string }>(hub.dbPath, "SELECT lost FROM _outpost_conflicts WHERE col = 'name'");
  assert.deepEqual(lost.map((r) => JSON.parse(r.lost) as unknown), ['flask (edited by A, clock a week ahead)'], 'A\'s losing value is in the conflict log');
  await b.agent.sync();
  assert.deepEqual(rowsOf(a.path, 'items'), rowsOf(hub.dbPath, 'items'));
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(hub.dbPath, 'items'));
  // No stamp anywhere is in the future any more.
  const limit = Date.now() + 300_000;
  for (const path of [hub.dbPath, a.path, b.path]) {
    const stamps = queryAll<{ hlc: string; col_hlc: string | null }>(path, "SELECT hlc, col_hlc FROM _outpost_rows UNION ALL SELECT v, NULL FROM _outpost_state WHERE k = 'clock'")
      .flatMap((r) => [r.hlc, ...Object.values(JSON.parse(r.col_hlc ?? '{}') as Record<string, string>)]);
    assert.ok(stamps.length > 2);
    for (const hlc of stamps) assert.ok(Number(hlc.slice(0, 15)) <= limit, `${path}: ${hlc} is in the future`);
  }

  // And it goes on as any lab: a new edit of A wins over older ones.
  rename(a, 1, 'flask (A, clock right)');
  await a.agent.sync();
  assert.equal(nameAt(hub.dbPath, 1), 'flask (A, clock right)');
});

test('a lab whose clock was set right before it synced: its changes count as made right after its last sync', async (t) => {
  const { hub, a, b, offset } = await setup(t);
  insertItem(a.app, 1, 'flask');
  insertItem(a.app, 2, 'beaker');
  await a.agent.sync();
  await b.agent.sync();
  offset.a = WEEK;
  rename(a, 1, 'flask (A, ahead)');
  rename(a, 2, 'beaker (A, ahead)');
  // Stamped (a week ahead) at a sync that never reached the hub (it is down, say).
  await a.db.write(async (tx) => {
    const { stampCaptured } = await import('../../src/engine/index.ts');
    const { HlcClock } = await import('../../src/protocol/index.ts');
    const st = await tx.getState('clock');
    const clock = new HlcClock((await tx.getState('node_id'))!, () => Date.now() + WEEK, st ?? undefined);
    const tables = JSON.parse((await tx.getState('tables'))!) as { name: string }[];
    await stampCaptured(tx, clock, new Map(tables.map((x) => [x.name, x])) as never, WEEK);
    await tx.setState('clock', clock.last);
  });
  offset.a = 0;
  rename(b, 1, 'flask (B)');
  await b.agent.sync();
  // No error measured: A's change to row 1 loses to B's (made after A's last sync), A's row 2 is applied.
  await a.agent.sync();
  assert.equal(nameAt(hub.dbPath, 1), 'flask (B)');
  assert.equal(nameAt(hub.dbPath, 2), 'beaker (A, ahead)');
  assert.equal(queryAll(hub.dbPath, "SELECT 1 FROM _outpost_conflicts WHERE col = 'name'").length, 1);
  assert.deepEqual(rowsOf(a.path, 'items'), rowsOf(hub.dbPath, 'items'));
});

test('the hub refuses a handshake or a push with a stamp too far ahead, with CLOCK_AHEAD, changing nothing', async (t) => {
  const { hub } = await setup(t);
  const { code } = await addNode(hub.hub.db, 'raw');
  const { token, nodeId } = await new HubClient(hub.url).join(code);
  const ahead = formatHlc({ wall: Date.now() + 3_600_000, counter: 0, node: nodeId });
  const ok = formatHlc({ wall: Date.now(), counter: 0, node: nodeId });
  const before = hubState(hub);
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${hub.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    assert.equal(res.status, 409);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    return (await res.json()) as Record<string, unknown>;
  };
  const hs = await post('/v1/handshake', { protocol: 1, schemaVersion: null, clock: ahead });
  assert.equal(hs.code, 'CLOCK_AHEAD');
  assert.equal(typeof hs.nodeTime, 'string');
  assert.equal(typeof hs.hubTime, 'string');
  assert.equal(hs.maxAheadMs, 300_000);
  assert.ok((hs.aheadMs as number) > 3_500_000);
  const change = { table: 'items', pk: [ID(9)], op: 'I', hlc: ok, cols: { id: ID(9), lab_id: 'lab-a', name: 'x', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00Z' } };
  for (const bad of [
    { clock: ahead, changes: [change] },
    { clock: ok, changes: [{ ...change, hlc: ahead }] },
    { clock: ok, changes: [{ ...change, colHlc: { name: ahead } }] },
  ]) {
    const p = await post('/v1/push', { from: 0, to: 1, page: 0, pages: 1, cursor: 0, ...bad });
    assert.equal(p.code, 'CLOCK_AHEAD', JSON.stringify(p));
  }
  assert.equal(hubState(hub), before);
  // Within the limit it goes through.
  const res = await fetch(`${hub.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock: formatHlc({ wall: Date.now() + 200_000, counter: 0, node: nodeId }), changes: [change] }) });
  assert.equal(res.status, 200, await res.clone().text());
});

test('a lab slightly ahead (within the limit) syncs as before; the limit is configurable', async (t) => {
  await t.test('default 300 s: two minutes ahead works, and its later edit wins', async (t) => {
    const { hub, a, b, offset } = await setup(t);
    insertItem(b.app, 1, 'flask');
    await b.agent.sync();
    await a.agent.sync();
    offset.a = 120_000;
    rename(b, 1, 'B');
    await b.agent.sync();
    rename(a, 1, 'A (2 min ahead)');
    const s = await a.agent.sync();
    assert.equal(s.pushed, 1);
    assert.equal(nameAt(hub.dbPath, 1), 'A (2 min ahead)');
  });
  await t.test('maxClockAheadSeconds 3600: 30 min ahead works, 2 h ahead is refused', async (t) => {
    const { hub, a, offset } = await setup(t, { maxClockAheadSeconds: 3600 });
    offset.a = 30 * 60_000;
    insertItem(a.app, 1, 'flask');
    await a.agent.sync();
    assert.equal(nameAt(hub.dbPath, 1), 'flask');
    offset.a = 2 * 3_600_000;
    rename(a, 1, 'two hours ahead');
    const e = await refused(a.agent.sync());
    assert.match(e.message, /at most 3600 s/);
    assert.equal(nameAt(hub.dbPath, 1), 'flask');
    offset.a = 0;
    await a.agent.sync();
    assert.equal(nameAt(hub.dbPath, 1), 'two hours ahead', 'nobody else edited it: the re-stamped change applies');
  });
});
