import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type AppDb, type DialectName, type MatrixHub, type MatrixLab } from '../helpers/replicas.ts';
import type { RowValues } from '../../src/engine/index.ts';
import { buildServer } from '../../src/hub/server.ts';
import { discardQuarantined, retryQuarantined } from '../../src/hub/quarantine.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import type { HubConfig } from '../../src/hub/config.ts';

/**
 * Quarantine (issue 6, point 5) end to end over real HTTP, for one pairing
 * of hub dialect and lab dialects: a change a database refuses is kept with
 * its error, shown on both sides, never blocks the rest, and an admin
 * retries or discards it.
 */
export function quarantineScenarios(hubDialect: DialectName, labDialects: [DialectName, DialectName]): void {
  const pairing = `quarantine, hub ${hubDialect} × labs ${labDialects[0]}${labDialects[1] === labDialects[0] ? '' : ` + ${labDialects[1]}`}`;

  const setup = async (t: Parameters<typeof tempDir>[0], config?: Partial<HubConfig>): Promise<{ hub: MatrixHub; a: MatrixLab; b: MatrixLab }> => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir, { config });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    return { hub, a, b };
  };

  /** Two labs insert different items with the same serial number under a unique index; B also updates another item in the same sync. */
  const serialClash = async (t: Parameters<typeof tempDir>[0]) => {
    const { hub, a, b } = await setup(t);
    for (const db of [hub.web, a.app, b.app]) await uniqueIndex(db, 'items_serial', 'serial_number');
    await insertItem(a, 9, 'lab-a', { name: 'shared shelf' });
    await syncAll([a, b], 1);
    // Offline: both labs register a new item with serial SN-1.
    await insertItem(a, 1, 'lab-a', { serial_number: 'SN-1', name: 'balance (A)' });
    await insertItem(b, 2, 'lab-b', { serial_number: 'SN-1', name: 'balance (B)' });
    await b.app.run('UPDATE items SET quantity = 42 WHERE id = ?', ID(9));
    await a.agent.sync();
    const sb = await b.agent.sync();
    return { hub, a, b, sb };
  };

  test(`${pairing}: two labs insert the same serial under a unique index: B's insert is quarantined at the hub, the rest applied; retry after the admin changed the hub's row applies and replicates it`, async (t) => {
    const { hub, a, b, sb } = await serialClash(t);
    assert.equal(sb.quarantined >= 1, true);
    // At the hub: B's insert quarantined with the database's error, B's update applied.
    const open = await hub.db.read((tx) => tx.listQuarantine({ status: 'open', limit: 10 }));
    assert.deepEqual(open.map((e) => [e.table, JSON.parse(e.pk), e.op, e.code, e.status, e.attempts]), [['items', [ID(2)], 'I', 'APPLY_FAILED', 'open', 1]]);
    assert.match(open[0]!.message, /unique|duplicate/i);
    assert.equal(open[0]!.origin, (await b.agent.status()).nodeId);
    assert.equal((await hub.hub.report()).quarantineOpen, 1);
    assert.equal(await qty(hub.web, 9), 42, "B's other change reached the hub");
    // On B: its own change, as the hub reported it; and A's insert, which B's database refused in turn (its own SN-1), quarantined here while the cursor moved on.
    const qb = (await b.agent.status()).quarantine;
    assert.deepEqual(qb.filter((e) => e.hubId !== undefined).map((e) => [e.hubId, e.table, e.pk, e.op]), [[open[0]!.id, 'items', [ID(2)], 'I']]);
    assert.deepEqual(qb.filter((e) => e.hubId === undefined).map((e) => [e.origin, e.pk, e.op]), [['hub', [ID(1)], 'I']]);
    assert.equal(await b.db.read(async (tx) => (await readNodeState(tx)).cursor), await hub.db.read((tx) => tx.maxLogSeq()), "B's cursor moved past the page it could not fully apply");
    assert.equal((await b.agent.status()).pending, 0, 'the hub acknowledged the group: nothing is pushed again');

    // Never retried in silence: more syncs leave one entry at the hub, not more, and B keeps working.
    await b.app.run("UPDATE items SET notes = 'B edits its balance' WHERE id = ?", ID(2));
    await syncAll([a, b]);
    const after = await hub.db.read((tx) => tx.listQuarantine({ limit: 10 }));
    assert.deepEqual(after.map((e) => [e.op, e.status]), [['I', 'open'], ['U', 'open']], "B's later update of the row is held behind the quarantined insert");
    assert.equal(after[1]!.message, `held behind quarantined change #${after[0]!.id}`);
    // Everyone converges on the rest.
    await assertConvergedExcept(hub, [a, b], [ID(1), ID(2)]);

    // The admin renames the hub's serial, then retries: B's insert and its held update are applied and replicated.
    await hub.web.run("UPDATE items SET serial_number = 'SN-1-A' WHERE id = ?", ID(1));
    const r = await retryQuarantined(hub.hub, after[0]!.id, 'test-admin', Date.now());
    assert.equal(r.applied, true);
    assert.deepEqual(r.alsoResolved, [after[1]!.id]);
    assert.deepEqual([r.entry.status, r.entry.attempts, r.entry.resolvedBy], ['applied', 2, 'test-admin']);
    assert.equal((await hub.hub.report()).quarantineOpen, 0);
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const items = await canonicalRows(hub.db, 'items');
    assert.deepEqual(items.filter((i) => i.id === ID(1) || i.id === ID(2)).map((i) => [i.serial_number, i.notes]), [['SN-1-A', null], ['SN-1', 'B edits its balance']]);
    // B took A's item once the hub's rename arrived (its own quarantined copy of A's insert, tried again after a sync that pulled).
    assert.deepEqual((await b.agent.status()).quarantine.filter((e) => e.hubId === undefined), []);
    const audit = (await hub.db.read((tx) => tx.listAudit({ limit: 1000 }))).filter((e) => !e.action.startsWith('node.')); // enrollments are audited too (issue 7)
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target]), [['test-admin', 'quarantine.retry', `quarantine:${after[0]!.id}`]]);
  });

  test(`${pairing}: a retry the database still refuses stays open with the new error; discard restates the hub's state and B's row goes at its next sync`, async (t) => {
    const { hub, a, b } = await serialClash(t);
    const [entry] = await hub.db.read((tx) => tx.listQuarantine({ status: 'open', limit: 10 }));
    const again = await retryQuarantined(hub.hub, entry!.id, 'test-admin', Date.now());
    assert.deepEqual([again.applied, again.entry.status, again.entry.attempts], [false, 'open', 2]);
    assert.match(again.entry.message, /unique|duplicate/i);
    const d = await discardQuarantined(hub.hub, entry!.id, 'test-admin', Date.now());
    assert.deepEqual([d.entry.status, d.entry.resolvedBy], ['discarded', 'test-admin']);
    await syncAll([b, a]);
    // B's insert is gone there; A's item (refused by B while B had SN-1) arrived once B's row went.
    await assertConverged(hub, [a, b]);
    assert.deepEqual((await canonicalRows(b.db, 'items')).map((i) => i.id), [ID(1), ID(9)]);
    assert.deepEqual(await hub.db.read(async (tx) => (await tx.listQuarantine({ limit: 10 })).map((e) => e.status)), ['discarded'], 'kept for the record');
    const audit = (await hub.db.read((tx) => tx.listAudit({ limit: 1000 }))).filter((e) => !e.action.startsWith('node.')); // enrollments are audited too (issue 7)
    assert.deepEqual(audit.map((e) => e.action), ['quarantine.retry', 'quarantine.discard']);
  });

  test(`${pairing}: a child whose parent another lab deleted is quarantined (foreign key); the rest flows; discarding it removes the child on its lab`, async (t) => {
    // Movements flow both ways here (in the OIMS config they only go up, and a discard's restatement could not reach the lab).
    const { hub, a, b } = await setup(t, { tables: { labs: { direction: 'down', policy: 'merge' }, categories: { direction: 'down', policy: 'merge' }, items: { direction: 'both', policy: 'merge' }, stock_movements: { direction: 'both', policy: 'merge' } } });
    await insertItem(a, 1, 'lab-a');
    await insertItem(a, 2, 'lab-a');
    await syncAll([a, b], 1);
    await a.app.run('DELETE FROM items WHERE id = ?', ID(1));
    await b.app.run("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES ('m1', ?, 'lab-b', -1, 'used')", ID(1));
    await b.app.run("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES ('m2', ?, 'lab-b', -2, 'used')", ID(2));
    await a.agent.sync();
    await b.agent.sync();
    const open = await hub.db.read((tx) => tx.listQuarantine({ status: 'open', limit: 10 }));
    assert.deepEqual(open.map((e) => [e.table, JSON.parse(e.pk), e.op]), [['stock_movements', ['m1'], 'I']]);
    assert.match(open[0]!.message, /foreign key|constraint/i);
    assert.deepEqual((await canonicalRows(hub.db, 'stock_movements')).map((m) => m.id), ['m2'], 'the other movement was applied');
    // B still has item 1 (its movement holds it): A's delete is quarantined on B, the cursor moved on.
    assert.deepEqual((await b.agent.status()).quarantine.filter((e) => e.hubId === undefined).map((e) => [e.table, e.pk, e.op]), [['items', [ID(1)], 'D']]);
    await discardQuarantined(hub.hub, open[0]!.id, 'test-admin', Date.now());
    await syncAll([b, a]);
    assert.deepEqual((await canonicalRows(b.db, 'stock_movements')).map((m) => m.id), ['m2'], "the discarded movement is gone on B");
    // With the movement gone, B took A's delete of the item.
    await assertConverged(hub, [a, b], ['items', 'stock_movements']);
  });

  test(`${pairing}: a pulled change that breaks a node-only unique index is quarantined on the node, later changes of its row wait behind it, the cursor moves; it applies once the clash is gone`, async (t) => {
    const { hub, a, b } = await setup(t);
    await uniqueIndex(a.app, 'items_name_local', 'name');
    await insertItem(a, 1, 'lab-a', { name: 'fume hood' });
    await syncAll([a, b], 1);
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'fume hood', 1)", ID(2));
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', 'centrifuge', 1)", ID(3));
    await a.agent.sync();
    await hub.web.run('UPDATE items SET quantity = 5 WHERE id = ?', ID(2));
    await a.agent.sync();
    const q = (await a.agent.status()).quarantine;
    assert.deepEqual(q.map((e) => [e.origin, e.pk, e.op, e.status]), [['hub', [ID(2)], 'I', 'open'], ['hub', [ID(2)], 'U', 'open']]);
    assert.match(q[0]!.message, /unique|duplicate/i);
    assert.equal(q[1]!.message, `held behind quarantined change #${q[0]!.id}`);
    assert.equal(await a.db.read(async (tx) => (await readNodeState(tx)).cursor), await hub.db.read((tx) => tx.maxLogSeq()));
    assert.deepEqual((await canonicalRows(a.db, 'items')).map((i) => i.id), [ID(1), ID(3)], 'the rest of the page was applied');
    assert.equal((await hub.hub.report()).quarantineOpen, 0, 'a node-side quarantine is not the hub\'s');
    // The lab renames its own item; after the next sync that pulls, the quarantined insert and its update apply.
    await a.app.run("UPDATE items SET name = 'fume hood (old)' WHERE id = ?", ID(1));
    await hub.web.run("UPDATE items SET notes = 'nudge' WHERE id = ?", ID(3));
    await a.agent.sync();
    assert.deepEqual((await a.agent.status()).quarantine, []);
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.equal((await canonicalRows(a.db, 'items')).find((i) => i.id === ID(2))!.quantity, 5);
  });

  test(`${pairing}: a snapshot row that breaks a unique index only the joining lab has is quarantined there; the snapshot completes, and the row applies once the clash is gone`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir);
    await hub.web.run("INSERT INTO items (id, lab_id, name, serial_number) VALUES (?, 'lab-c', 'from the hub', 'SN-5')", ID(1));
    await hub.web.run("INSERT INTO items (id, lab_id, name) VALUES (?, 'lab-c', 'another')", ID(3));
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a', {
      existing: true,
      before: async (app) => {
        await uniqueIndex(app, 'items_serial_local', 'serial_number');
        await app.run("INSERT INTO items (id, lab_id, name, serial_number) VALUES (?, 'lab-a', 'from the lab', 'SN-5')", ID(2));
      },
    });
    const s = await a.agent.status();
    assert.equal(s.snapshot, 'done');
    assert.deepEqual(s.quarantine.map((e) => [e.origin, e.pk, e.op]), [['hub', [ID(1)], 'I']]);
    assert.deepEqual((await canonicalRows(a.db, 'items')).map((i) => i.id), [ID(2), ID(3)]);
    await a.app.run("UPDATE items SET serial_number = 'SN-5-lab' WHERE id = ?", ID(2));
    await hub.web.run("UPDATE items SET notes = 'nudge' WHERE id = ?", ID(3));
    await a.agent.sync();
    await a.agent.sync();
    assert.deepEqual((await a.agent.status()).quarantine, []);
    await assertConverged(hub, [a]);
  });

  test(`${pairing}: a change later in the same push group to a quarantined row is held behind it, never applied out of order`, async (t) => {
    const { hub, a, b } = await setup(t);
    await uniqueIndex(hub.web, 'items_serial', 'serial_number');
    await insertItem(a, 1, 'lab-a', { serial_number: 'SN-7' });
    await syncAll([a, b], 1);
    const node = (await hub.db.read((tx) => tx.nodeByName('lab-b')))!;
    const hlc = (n: number): string => `${String(Date.now() + n).padStart(15, '0')}-00000000-${node.id}`;
    const res = await hub.hub.push(node, {
      from: node.ackedSeq, to: node.ackedSeq + 3, page: 0, pages: 1, cursor: 0, clock: hlc(10),
      changes: [
        { table: 'items', pk: [ID(5)], op: 'I', hlc: hlc(1), cols: { id: ID(5), lab_id: 'lab-b', name: 'clash', serial_number: 'SN-7', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00.000Z' } },
        { table: 'items', pk: [ID(6)], op: 'I', hlc: hlc(2), cols: { id: ID(6), lab_id: 'lab-b', name: 'fine', serial_number: 'SN-8', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00.000Z' } },
        { table: 'items', pk: [ID(5)], op: 'U', hlc: hlc(3), cols: { notes: 'later' } },
      ],
    });
    assert.equal(res.ack, node.ackedSeq + 3);
    assert.deepEqual(res.quarantined?.map((q) => [q.pk, q.op, q.code]), [[[ID(5)], 'I', 'APPLY_FAILED'], [[ID(5)], 'U', 'APPLY_FAILED']]);
    assert.equal(res.quarantined![1]!.message, `held behind quarantined change #${res.quarantined![0]!.id}`);
    const rows = await canonicalRows(hub.db, 'items');
    assert.deepEqual(rows.map((r) => r.id).sort(), [ID(1), ID(6)], 'the update did not create or touch the quarantined row');
    // Retrying the held update alone is refused: its row's changes go in order.
    await assert.rejects(retryQuarantined(hub.hub, res.quarantined![1]!.id, 'x', Date.now()), (e: { code?: string }) => e.code === 'BAD_REQUEST');
    // Once the website gave its item another serial, the insert applies, and the update after it.
    await hub.web.run("UPDATE items SET serial_number = 'SN-7-A' WHERE id = ?", ID(1));
    const r = await retryQuarantined(hub.hub, res.quarantined![0]!.id, 'x', Date.now());
    assert.deepEqual([r.applied, r.alsoResolved], [true, [res.quarantined![1]!.id]]);
    const row = (await canonicalRows(hub.db, 'items')).find((i) => i.id === ID(5))!;
    assert.deepEqual([row.serial_number, row.notes], ['SN-7', 'later']);
  });

  test(`${pairing}: the admin API: token required (not a node's), list, show, retry, discard, 400/404, ALREADY_RESOLVED, audited`, async (t) => {
    const { hub, a, b } = await serialClash(t);
    void a;
    const token = 'admin-token-0123456789';
    const app = await buildServer(hub.hub, { adminToken: token });
    t.after(() => app.close());
    const as = { authorization: `Bearer ${token}`, 'x-outpost-actor': 'alice' };
    const nodeToken = (await b.db.read((tx) => tx.getState('token')))!;
    const none = await app.inject({ method: 'GET', url: '/v1/admin/quarantine' });
    assert.deepEqual([none.statusCode, none.headers['content-type'], none.json().code], [401, 'application/problem+json; charset=utf-8', 'ADMIN_UNAUTHORIZED']);
    const asNode = await app.inject({ method: 'POST', url: '/v1/admin/quarantine/1/discard', headers: { authorization: `Bearer ${nodeToken}` } });
    assert.deepEqual([asNode.statusCode, asNode.json().code], [401, 'ADMIN_UNAUTHORIZED']);
    const off = await (await buildServer(hub.hub)).inject({ method: 'GET', url: '/v1/admin/quarantine', headers: as });
    assert.deepEqual([off.statusCode, off.json().code], [403, 'ADMIN_DISABLED']);
    const list = await app.inject({ method: 'GET', url: '/v1/admin/quarantine?status=open', headers: as });
    assert.equal(list.statusCode, 200);
    const entries = list.json().entries as { id: number; table: string; pk: unknown[]; op: string; originName: string; status: string; change: { cols: RowValues } }[];
    assert.deepEqual(entries.map((e) => [e.table, e.pk, e.op, e.originName, e.status, e.change.cols.serial_number]), [['items', [ID(2)], 'I', 'lab-b', 'open', 'SN-1']]);
    const id = entries[0]!.id;
    assert.equal((await app.inject({ method: 'GET', url: `/v1/admin/quarantine/${id}`, headers: as })).json().id, id);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/admin/quarantine/999999', headers: as })).statusCode, 404);
    for (const bad of ['abc', '0', '-1']) assert.equal((await app.inject({ method: 'POST', url: `/v1/admin/quarantine/${bad}/retry`, headers: as })).statusCode, 400, bad);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/admin/quarantine?status=nope', headers: as })).statusCode, 400);
    const retry = await app.inject({ method: 'POST', url: `/v1/admin/quarantine/${id}/retry`, headers: as });
    assert.deepEqual([retry.statusCode, retry.json().applied, retry.json().entry.attempts], [200, false, 2]);
    const discard = await app.inject({ method: 'POST', url: `/v1/admin/quarantine/${id}/discard`, headers: as });
    assert.deepEqual([discard.statusCode, discard.json().entry.status, discard.json().entry.resolvedBy], [200, 'discarded', 'api:alice']);
    for (const action of ['retry', 'discard']) {
      const again = await app.inject({ method: 'POST', url: `/v1/admin/quarantine/${id}/${action}`, headers: as });
      assert.deepEqual([again.statusCode, again.json().code], [409, 'ALREADY_RESOLVED']);
    }
    assert.deepEqual((await app.inject({ method: 'GET', url: '/v1/admin/quarantine', headers: as })).json().entries.map((e: { status: string }) => e.status), ['discarded']);
    const audit = (await hub.db.read((tx) => tx.listAudit({ limit: 1000 }))).filter((e) => !e.action.startsWith('node.')); // enrollments are audited too (issue 7)
    assert.deepEqual(audit.map((e) => [e.actor, e.action]), [['api:alice', 'quarantine.retry'], ['api:alice', 'quarantine.discard']]);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /^outpost_quarantine_open 0$/m);
  });
}

const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function insertItem(lab: MatrixLab, n: number, labId: string, extra: Record<string, unknown> = {}): Promise<void> {
  const row: Record<string, unknown> = { id: ID(n), lab_id: labId, name: `item ${n}`, quantity: n, ...extra };
  const cols = Object.keys(row);
  await lab.app.run(`INSERT INTO items (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, ...cols.map((c) => row[c]));
}

async function qty(db: AppDb, n: number): Promise<number> {
  const [r] = await db.query<{ quantity: number | string }>('SELECT quantity FROM items WHERE id = ?', ID(n));
  return Number(r!.quantity);
}

/** A unique index the app adds to its own database (MariaDB indexes a TEXT column by a prefix). */
async function uniqueIndex(db: AppDb, name: string, column: string): Promise<void> {
  if (db.dialect === 'mysql') {
    const [c] = await db.query<{ t: string }>("SELECT DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items' AND COLUMN_NAME = ?", column);
    const prefix = /text|blob/i.test(c!.t) ? '(100)' : '';
    await db.exec(`CREATE UNIQUE INDEX ${name} ON items (${column}${prefix})`);
    return;
  }
  await db.exec(`CREATE UNIQUE INDEX ${name} ON items (${column})`);
}

async function syncAll(labs: MatrixLab[], rounds = 2): Promise<void> {
  for (let r = 0; r < rounds; r++) for (const l of labs) await l.agent.sync();
}

async function assertConverged(hub: MatrixHub, labs: MatrixLab[], tables = ['items', 'labs', 'categories']): Promise<void> {
  for (const table of tables) {
    const want: RowValues[] = await canonicalRows(hub.db, table);
    for (const l of labs) assert.deepEqual(await canonicalRows(l.db, table), want, `${l.name} (${l.db.dialect}) differs from the hub (${hub.db.dialect}) in ${table}`);
  }
}

async function assertConvergedExcept(hub: MatrixHub, labs: MatrixLab[], ids: string[]): Promise<void> {
  const keep = (rows: RowValues[]): RowValues[] => rows.filter((r) => !ids.includes(r.id as string));
  const want = keep(await canonicalRows(hub.db, 'items'));
  for (const l of labs) assert.deepEqual(keep(await canonicalRows(l.db, 'items')), want, `${l.name} differs from the hub beyond the quarantined rows`);
}
