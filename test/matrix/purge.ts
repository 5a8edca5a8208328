import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, openMatrixHub, startMatrixHub, type AppDb, type DialectName, type MatrixHub, type MatrixLab } from '../helpers/replicas.ts';
import { HlcClock } from '../../src/protocol/index.ts';
import type { RowValues } from '../../src/engine/index.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { dropPurgedMarkers } from '../../src/node/purge-markers.ts';

const DAY = 86_400_000;
/** One day of retention; purges only on demand (the tests call Hub.purge). */
const RETENTION = { retention: { horizonSeconds: 86_400, purgeEverySeconds: 0 } };

/**
 * Purge with a retention horizon, over real HTTP, for one hub dialect and
 * three lab dialects. The hub's clock is injected so that days pass at once.
 */
export function purgeScenarios(hubDialect: DialectName, labDialects: [DialectName, DialectName, DialectName], opts: { keyOnly?: boolean } = {}): void {
  const pairing = `hub ${hubDialect} × labs ${[...new Set(labDialects)].join(' + ')}`;

  test(`${pairing}: a lab away past the horizon uploads its changes first, then takes a fresh snapshot and misses no delete`, async (t) => {
    const dir = tempDir(t);
    let offset = 0;
    const hub = await startMatrixHub(t, hubDialect, dir, { config: RETENTION, now: () => Date.now() + offset });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    const c = await joinMatrixLab(t, hub, labDialects[2], dir, 'lab-c');
    for (let n = 1; n <= 6; n++) await insertItem(a.app, n, 'lab-a');
    await syncAll([a, b, c]);
    await assertConverged(hub, [a, b, c]);

    // C goes offline with a pending update of X (item 1) and a pending insert of Y (item 7).
    await c.app.run("UPDATE items SET notes = 'edited on C while away' WHERE id = ?", ID(1));
    await insertItem(c.app, 7, 'lab-c', { name: 'made on C while away' });
    // A and B delete rows (X among them) and edit others; so does the website.
    await a.app.run('DELETE FROM items WHERE id IN (?, ?)', ID(1), ID(2));
    await b.app.run('DELETE FROM items WHERE id = ?', ID(3));
    await b.app.run("UPDATE items SET name = 'renamed on B' WHERE id = ?", ID(4));
    await hub.web.run('DELETE FROM items WHERE id = ?', ID(5));
    await syncAll([a, b]);
    // Two days pass on the hub; A and B keep syncing, C does not.
    offset += 2 * DAY;
    await hub.web.run("UPDATE items SET notes = 'two days later' WHERE id = ?", ID(6));
    await syncAll([a, b]);

    const before = { log: await count(hub.web, '_outpost_log'), markers: await markers(hub.web) };
    assert.equal(before.markers, 4, 'items 1, 2, 3 and 5 have delete markers at the hub');
    const r = await hub.hub.purge();
    assert.deepEqual([r.live, r.expired], [['lab-a', 'lab-b'], ['lab-c']]);
    const after = { log: await count(hub.web, '_outpost_log'), markers: await markers(hub.web) };
    t.diagnostic(`hub ${hubDialect}: log entries ${before.log} → ${after.log}, delete markers ${before.markers} → ${after.markers}`);
    assert.deepEqual(after, { log: 1, markers: 0 }, 'A and B pulled everything: only the log head is left');
    assert.deepEqual([r.log, r.markers], [before.log - 1, 4]);
    assert.equal(r.purgedThrough, await maxSeq(hub.web));
    assert.ok(r.purgedHlc, 'the newest purged delete stamp is recorded');

    // C returns: its changes go up first (Y arrives, X's update is a conflict, not a resurrection), then a fresh snapshot.
    const s = await c.agent.sync();
    assert.equal(s.pushed, 2);
    assert.ok(s.snapshotRows > 0, 'C took a fresh snapshot');
    assert.deepEqual((await canonicalRows(hub.db, 'items')).map((row) => row.id), [ID(4), ID(6), ID(7)]);
    const conflicts = await hub.web.query<{ kind: string; origin: string }>("SELECT kind, origin FROM _outpost_conflicts WHERE pk = ? AND kind = 'update-missing'", JSON.stringify([ID(1)]));
    assert.equal(conflicts.length, 1, "X's update is kept in the conflict log");
    assert.equal(conflicts[0]!.origin, (await c.agent.status()).nodeId);
    assert.deepEqual(await canonicalRows(c.db, 'items'), await canonicalRows(hub.db, 'items'), 'C equals the hub: every row deleted while it was away is gone');
    const cs = await c.agent.status();
    assert.equal(cs.snapshot, 'done');
    assert.ok(cs.cursor >= r.purgedThrough);
    await syncAll([a, b, c]);
    await assertConverged(hub, [a, b, c]);
    const byId = new Map((await canonicalRows(a.db, 'items')).map((row) => [row.id, row]));
    assert.equal(byId.get(ID(4))!.name, 'renamed on B');
    assert.equal(byId.get(ID(6))!.notes, 'two days later');
    // The labs dropped their markers of purged deletes too.
    for (const l of [a, b, c]) assert.equal(await markers(l.app), 0, `${l.name} keeps no marker the hub purged`);
  });

  test(`${pairing}: a hub restarted after a purge that left one log entry hands out right cursors; a new lab misses nothing`, async (t) => {
    const dir = tempDir(t);
    let hub = await startMatrixHub(t, hubDialect, dir, { config: RETENTION });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    for (let n = 1; n <= 3; n++) await insertItem(a.app, n, 'lab-a');
    await a.app.run('DELETE FROM items WHERE id = ?', ID(3));
    await syncAll([a]);
    const head = await maxSeq(hub.web);
    await hub.hub.purge();
    assert.equal(await count(hub.web, '_outpost_log'), 1);
    // The hub process restarts on the same database (on another port: a
    // kept-alive socket to the old one is not the point here), and A follows it.
    await hub.close();
    hub = await reopenHub(t, hub);
    await a.db.write((tx) => tx.setState('hub_url', hub.url));
    assert.equal(await maxSeq(hub.web), head, 'the log head survived the purge and the restart');
    const d = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-d');
    assert.equal((await d.agent.status()).cursor, head, "the new lab's snapshot cursor is the head");
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'after the restart', 4)", ID(4));
    await insertItem(a.app, 5, 'lab-a');
    await syncAll([a, d]);
    assert.ok((await maxSeq(hub.web)) > head, 'new entries continue after the old head (the counter did not restart)');
    await assertConverged(hub, [a, d]);
    assert.deepEqual((await canonicalRows(d.db, 'items')).map((row) => row.id), [ID(1), ID(2), ID(4), ID(5)]);
  });

  if (opts.keyOnly) return;

  test(`${pairing}: a purge keeps what a live lab that is behind still needs, and that lab catches up by pulling`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir, { config: RETENTION });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    for (let n = 1; n <= 4; n++) await insertItem(a.app, n, 'lab-a');
    await syncAll([a, b]);
    const bCursor = (await b.agent.status()).cursor;
    // B stays behind (within the horizon) while A and the website go on.
    await a.app.run('DELETE FROM items WHERE id = ?', ID(1));
    await a.app.run("UPDATE items SET quantity = 40 WHERE id = ?", ID(4));
    await hub.web.run('DELETE FROM items WHERE id = ?', ID(2));
    await insertItem(a.app, 5, 'lab-a');
    await syncAll([a]);
    const needed = await hub.web.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM _outpost_log WHERE seq > ?', bCursor);
    const r = await hub.hub.purge();
    assert.equal(r.purgedThrough, bCursor, "the purge stops at B's cursor");
    assert.ok(r.log > 0);
    assert.equal(r.markers, 0, 'the deletes B has not pulled keep their markers');
    assert.equal(await markers(hub.web), 2);
    assert.equal(await count(hub.web, '_outpost_log'), Number(needed[0]!.n), 'every entry after B\'s cursor is kept');
    const s = await b.agent.sync();
    assert.equal(s.snapshotRows, 0, 'B pulled, no snapshot needed');
    await assertConverged(hub, [a, b]);
    // Once B has pulled past them, the next purge takes the deletes and their markers.
    await syncAll([a, b]);
    const r2 = await hub.hub.purge();
    assert.equal(r2.markers, 2);
    assert.equal(await markers(hub.web), 0);
  });

  test(`${pairing}: a lab drops delete markers of purged deletes but keeps those of pending deletes; a stale update resurrects nothing`, async (t) => {
    const dir = tempDir(t);
    let offset = 0;
    const hub = await startMatrixHub(t, hubDialect, dir, { config: RETENTION, now: () => Date.now() + offset });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    for (let n = 1; n <= 3; n++) await insertItem(a.app, n, 'lab-a');
    await syncAll([a, b]);
    // B edits item 1 and goes away; the website deletes it; A pulls the delete.
    await b.app.run("UPDATE items SET quantity = 99 WHERE id = ?", ID(1));
    await hub.web.run('DELETE FROM items WHERE id = ?', ID(1));
    await syncAll([a]);
    offset += 2 * DAY;
    await syncAll([a]);
    const r = await hub.hub.purge();
    assert.deepEqual(r.expired, ['lab-b']);
    assert.equal(await markers(hub.web), 0);
    // A deletes item 2 and has not pushed it yet: that marker stays, item 1's goes.
    await a.app.run('DELETE FROM items WHERE id = ?', ID(2));
    const state = await a.db.read(readNodeState);
    const ctx = {
      db: a.db, client: new HubClient(state.hubUrl, state.token), clock: new HlcClock(state.nodeId, Date.now, state.clock ?? undefined),
      catalogue: new Map(state.tables.map((x) => [x.name, x])), nodeId: state.nodeId, skewMs: 0, pageSize: 100,
    };
    // Every marker is old enough here; only the pending one is spared.
    assert.equal(await dropPurgedMarkers(ctx, '999999999999999-ffffffff-zz'), 1);
    const left = await a.app.query<{ pk: string }>('SELECT pk FROM _outpost_rows WHERE ex = 0');
    assert.deepEqual(left.map((x) => x.pk), [JSON.stringify([ID(2)])], 'the pending delete keeps its marker');
    await syncAll([a]);
    assert.deepEqual((await canonicalRows(hub.db, 'items')).map((row) => row.id), [ID(3)], 'the pending delete reached the hub');
    // B returns with its stale update of item 1: a conflict at the hub, and item 1 stays gone everywhere.
    await syncAll([b, a]);
    await assertConverged(hub, [a, b]);
    assert.deepEqual((await canonicalRows(a.db, 'items')).map((row) => row.id), [ID(3)]);
    const kinds = await hub.web.query<{ kind: string }>('SELECT kind FROM _outpost_conflicts WHERE pk = ?', JSON.stringify([ID(1)]));
    assert.deepEqual(kinds.map((k) => k.kind), ['update-missing']);
  });

  test(`${pairing}: an old insert of a row whose delete was purged is restated, so every lab takes it the same way`, async (t) => {
    const dir = tempDir(t);
    let offset = 0;
    const hub = await startMatrixHub(t, hubDialect, dir, { config: RETENTION, now: () => Date.now() + offset });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    await insertItem(a.app, 1, 'lab-a');
    await syncAll([a, b]);
    // B creates item 2 and goes away; two days later (A's clock follows the
    // hub's, so its stamps are newer) A deletes item 1, and that delete is purged.
    await insertItem(b.app, 2, 'lab-b');
    offset += 2 * DAY;
    await syncAll([a]);
    await a.app.run('DELETE FROM items WHERE id = ?', ID(1));
    await syncAll([a]);
    await hub.hub.purge();
    await syncAll([b, a]);
    await assertConverged(hub, [a, b]);
    assert.deepEqual((await canonicalRows(a.db, 'items')).map((row) => row.id), [ID(2)]);
    const ops = await hub.web.query<{ op: string }>('SELECT op FROM _outpost_log WHERE pk = ? ORDER BY seq', JSON.stringify([ID(2)]));
    assert.deepEqual(ops.map((o) => o.op), ['I', 'R'], 'the insert, stamped below a purged delete, is restated');
  });
}

async function reopenHub(t: { after: (fn: () => unknown) => void }, old: MatrixHub): Promise<MatrixHub> {
  return openMatrixHub(t, old.web, old.hub.config);
}

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function insertItem(app: AppDb, n: number, labId: string, extra: Record<string, unknown> = {}): Promise<void> {
  const row: Record<string, unknown> = { id: ID(n), lab_id: labId, name: `item ${n}`, quantity: n, unit_price: `${n}.25`, ...extra };
  const cols = Object.keys(row);
  await app.run(`INSERT INTO items (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, ...cols.map((c) => row[c]));
}

async function syncAll(labs: MatrixLab[], rounds = 2): Promise<void> {
  for (let r = 0; r < rounds; r++) for (const l of labs) await l.agent.sync();
}

async function count(db: AppDb, table: string): Promise<number> {
  const [r] = await db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(r!.n);
}

async function markers(db: AppDb): Promise<number> {
  const [r] = await db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM _outpost_rows WHERE ex = 0');
  return Number(r!.n);
}

async function maxSeq(db: AppDb): Promise<number> {
  const [r] = await db.query<{ m: number | string }>('SELECT MAX(seq) AS m FROM _outpost_log');
  return Number(r!.m);
}

async function assertConverged(hub: MatrixHub, labs: MatrixLab[], tables = ['items', 'labs', 'categories']): Promise<void> {
  for (const table of tables) {
    const want: RowValues[] = await canonicalRows(hub.db, table);
    for (const l of labs) assert.deepEqual(await canonicalRows(l.db, table), want, `${l.name} (${l.db.dialect}) differs from the hub (${hub.db.dialect}) in ${table}`);
  }
}
