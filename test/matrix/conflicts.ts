import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/fixtures.ts';
import { joinMatrixLab, startMatrixHub, type DialectName, type MatrixHub, type MatrixLab } from '../helpers/replicas.ts';
import type { HubConfig } from '../../src/hub/config.ts';
import type { ConflictView } from '../../src/hub/conflicts.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import { ID, assertConverged, insertItem, itemOn, syncAll, tick } from './items.ts';

/**
 * Every kind of conflict under every table policy, for one pairing of hub
 * and lab dialects: two labs (and the website) write the same rows while
 * apart, sync in both orders, and every replica must end equal with every
 * concurrent write that lost — or that the winner overwrote — in the hub's
 * conflict log. Counter columns have their own file (counters.ts).
 */
export function conflictScenarios(hubDialect: DialectName, labDialects: [DialectName, DialectName]): void {
  const pairing = `hub ${hubDialect} × labs ${labDialects[0]}${labDialects[1] === labDialects[0] ? '' : ` + ${labDialects[1]}`}`;

  const setup = async (t: Parameters<typeof tempDir>[0], items: HubConfig['tables'][string], rows: number, dir = tempDir(t)): Promise<{ hub: MatrixHub; a: MatrixLab; b: MatrixLab }> => {
    const base = { labs: { direction: 'down' as const, policy: 'merge' as const }, categories: { direction: 'down' as const, policy: 'merge' as const }, stock_movements: { direction: 'up' as const, policy: 'merge' as const } };
    const hub = await startMatrixHub(t, hubDialect, dir, { config: { tables: { ...base, items } } });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a');
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    for (let n = 1; n <= rows; n++) await insertItem(a, n, 'lab-a');
    await syncAll([a, b]);
    return { hub, a, b };
  };
  const of = async (hub: MatrixHub, n: number): Promise<ConflictView[]> => hub.hub.conflicts({ pk: [ID(n)], limit: 1000 });
  const set = (lab: MatrixLab, n: number, sql: string, ...params: unknown[]): Promise<void> => lab.app.run(`UPDATE items SET ${sql} WHERE id = ?`, ...params, ID(n));

  test(`${pairing}: merge: the newer write wins a column whichever arrives first; the other is logged with both sides; delete wins over update`, async (t) => {
    const { hub, a, b } = await setup(t, { direction: 'both', policy: 'merge' }, 6);
    // Item 1: the older write arrives second and loses.
    await set(a, 1, 'name = ?', 'A1');
    await tick();
    await set(b, 1, 'name = ?', 'B1');
    await b.agent.sync();
    await a.agent.sync();
    // Item 2: the older write arrives first; the newer overwrites it.
    await set(a, 2, 'name = ?', 'A2');
    await tick();
    await set(b, 2, 'name = ?', 'B2');
    await a.agent.sync();
    await b.agent.sync();
    // Item 3: different columns: both win, nothing to log.
    await set(a, 3, 'name = ?', 'A3');
    await set(b, 3, 'status = ?', 'repair');
    // Item 4: the website, then a lab.
    await hub.web.run('UPDATE items SET notes = ? WHERE id = ?', 'web', ID(4));
    await tick();
    await set(a, 4, 'notes = ?', 'A4');
    await syncAll([a, b]);
    // Item 5: deleted, then updated elsewhere; item 6: updated, then deleted elsewhere.
    await a.app.run('DELETE FROM items WHERE id = ?', ID(5));
    await set(b, 5, 'quantity = ?', 55);
    await a.agent.sync();
    await b.agent.sync();
    await set(b, 6, 'quantity = ?', 66);
    await b.agent.sync();
    await a.app.run('DELETE FROM items WHERE id = ?', ID(6));
    await a.agent.sync();
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);

    assert.deepEqual([(await itemOn(hub.db, 1))?.name, (await itemOn(hub.db, 2))?.name], ['B1', 'B2']);
    for (const n of [1, 2]) {
      const [c, ...more] = await of(hub, n);
      assert.equal(more.length, 0, `one conflict for item ${n}`);
      assert.deepEqual([c!.kind, c!.column, c!.status, c!.policy, c!.lost.value, c!.lost.origin, c!.kept.value, c!.result], ['column', 'name', 'auto', 'merge', `A${n}`, await idOf(hub, 'lab-a'), `B${n}`, `B${n}`]);
      assert.equal(c!.kept.origin, await idOf(hub, 'lab-b'));
    }
    assert.deepEqual(await of(hub, 3), [], 'different columns are no conflict');
    const row3 = await itemOn(hub.db, 3);
    assert.deepEqual([row3?.name, row3?.status], ['A3', 'repair']);
    const [web] = await of(hub, 4);
    assert.deepEqual([web?.lost.value, web?.lost.origin, web?.kept.value, (await itemOn(a.db, 4))?.notes], ['web', null, 'A4', 'A4'], "the website's overwritten value is logged as the hub's");
    assert.equal(await itemOn(hub.db, 5), undefined);
    assert.deepEqual((await of(hub, 5)).map((c) => [c.kind, c.column, c.lost.value, c.lost.origin]), [['update-deleted', 'quantity', 55, await idOf(hub, 'lab-b')]]);
    assert.equal(await itemOn(hub.db, 6), undefined);
    assert.deepEqual((await of(hub, 6)).map((c) => [c.kind, c.column, c.lost.value, c.lost.origin, c.policy]), [['delete-updated', 'quantity', 66, await idOf(hub, 'lab-b'), 'delete-wins']]);
  });

  test(`${pairing}: lww: the newer row wins whole; update-wins: an update brings a deleted row back (a counter's delta on its last value), and a delete of an updated row is refused`, async (t) => {
    const { hub, a, b } = await setup(t, { direction: 'both', policy: 'lww', onDelete: 'update-wins', columns: { quantity: 'counter' } }, 3);
    await set(a, 1, 'name = ?', 'A1');
    await tick();
    await set(b, 1, 'status = ?', 'lost');
    await a.agent.sync();
    await b.agent.sync();
    // Item 2: deleted first, then updated: the update wins and the row comes back.
    await a.app.run('DELETE FROM items WHERE id = ?', ID(2));
    await a.agent.sync();
    await set(b, 2, 'quantity = ?', 77);
    await b.agent.sync();
    // Item 3: updated first, then deleted: the row stays.
    await set(b, 3, 'quantity = ?', 55);
    await b.agent.sync();
    await a.app.run('DELETE FROM items WHERE id = ?', ID(3));
    await a.agent.sync();
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);

    const row1 = await itemOn(hub.db, 1);
    assert.deepEqual([row1?.name, row1?.status], ['item 1', 'lost'], 'the newer row, whole');
    assert.deepEqual((await of(hub, 1)).map((c) => [c.kind, c.column, c.lost.value, c.kept.value, c.policy]), [['row', 'name', 'A1', 'item 1', 'lww']]);
    const row2 = await itemOn(a.db, 2);
    assert.deepEqual([row2?.name, row2?.quantity], ['item 2', 77], 'brought back with its last values and the update');
    assert.deepEqual((await of(hub, 2)).map((c) => [c.kind, c.policy, c.status, c.lost.origin]), [['update-deleted', 'update-wins', 'auto', await idOf(hub, 'lab-a')]]);
    assert.equal((await itemOn(a.db, 3))?.quantity, 55, 'the deleting lab has the row again');
    assert.deepEqual((await of(hub, 3)).map((c) => [c.kind, c.policy, c.lost.origin]), [['delete-updated', 'update-wins', await idOf(hub, 'lab-a')]]);
  });

  test(`${pairing}: manual: the hub keeps its value and queues the conflict; only that row's column waits; an admin takes a side or sets values, and it replicates`, async (t) => {
    const { hub, a, b } = await setup(t, { direction: 'both', policy: 'manual', onDelete: 'manual' }, 6);
    await set(a, 1, 'notes = ?', 'A');
    await set(a, 3, 'quantity = ?', 30);
    await set(a, 4, 'name = ?', 'A4');
    await tick();
    await set(b, 1, 'notes = ?', 'B');
    await set(b, 3, 'quantity = ?', 31);
    await set(b, 4, 'name = ?', 'B4');
    // In the same push as B's contested writes: another column of row 1, another row, a new row.
    await set(b, 1, 'status = ?', 'repair');
    await set(b, 2, 'quantity = ?', 22);
    await insertItem(b, 9, 'lab-b');
    await a.agent.sync();
    await b.agent.sync();
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const row1 = await itemOn(b.db, 1);
    assert.deepEqual([row1?.notes, row1?.status], ['A', 'repair'], "the hub's value stays, the uncontested column of the same row flows");
    assert.equal((await itemOn(a.db, 2))?.quantity, 22, 'another row of the same push flows');
    assert.ok(await itemOn(a.db, 9), 'a new row of the same push flows');
    const open = await hub.hub.conflicts({ status: 'open' });
    assert.deepEqual(open.map((c) => [c.pk[0], c.column, c.lost.value, c.kept.value]).sort(), [[ID(1), 'notes', 'B', 'A'], [ID(3), 'quantity', 31, 30], [ID(4), 'name', 'B4', 'A4']]);
    assert.equal((await hub.hub.report()).conflictsOpen, 3);

    const byPk = (n: number): ConflictView => open.find((c) => c.pk[0] === ID(n))!;
    await hub.hub.resolveConflict(byPk(1).id, { take: 'node' }, 'test-admin');
    await hub.hub.resolveConflict(byPk(3).id, { take: 'hub' }, 'test-admin');
    await hub.hub.resolveConflict(byPk(4).id, { set: { name: 'agreed' } }, 'test-admin');
    await assert.rejects(hub.hub.resolveConflict(byPk(4).id, { take: 'node' }, 'test-admin'), (e: OutpostError) => e.code === 'ALREADY_RESOLVED');
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.deepEqual([(await itemOn(a.db, 1))?.notes, (await itemOn(b.db, 3))?.quantity, (await itemOn(a.db, 4))?.name], ['B', 30, 'agreed']);
    const done = await hub.hub.conflict(byPk(4).id);
    assert.deepEqual([done.status, done.result, done.resolved?.by], ['resolved', 'agreed', 'test-admin']);
    const audit = (await hub.db.read((tx) => tx.listAudit({ limit: 1000 }))).filter((e) => !e.action.startsWith('node.')); // enrollments are audited too (issue 7)
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target]), [byPk(1), byPk(3), byPk(4)].map((c) => ['test-admin', 'conflict.resolve', `conflict:${c.id}`]));

    // Deletes: the hub keeps its state, an admin decides.
    await a.app.run('DELETE FROM items WHERE id = ?', ID(5));
    await a.agent.sync();
    await set(b, 5, 'quantity = ?', 50);
    await b.agent.sync();
    await set(b, 6, 'quantity = ?', 60);
    await b.agent.sync();
    await a.app.run('DELETE FROM items WHERE id = ?', ID(6));
    await a.agent.sync();
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    assert.equal(await itemOn(b.db, 5), undefined, 'row 5 stays deleted while the conflict waits');
    assert.equal((await itemOn(a.db, 6))?.quantity, 60, 'row 6 stays while the conflict waits');
    const [c5] = (await of(hub, 5)).filter((c) => c.status === 'open');
    const [c6] = (await of(hub, 6)).filter((c) => c.status === 'open');
    assert.deepEqual([c5?.kind, c6?.kind], ['update-deleted', 'delete-updated']);
    await hub.hub.resolveConflict(c5!.id, { take: 'node' }, 'test-admin');
    await hub.hub.resolveConflict(c6!.id, { take: 'node' }, 'test-admin');
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const row5 = await itemOn(a.db, 5);
    assert.deepEqual([row5?.name, row5?.quantity], ['item 5', 50], 'taking the update brings row 5 back');
    assert.equal(await itemOn(b.db, 6), undefined, 'taking the delete removes row 6');
    assert.equal((await hub.hub.report()).conflictsOpen, 0);
  });

  test(`${pairing}: custom: a resolver module writes new values, takes a side, or leaves it to an admin; a failing resolver loses nothing`, async (t) => {
    const dir = tempDir(t);
    const resolver = join(dir, 'resolver.mjs');
    writeFileSync(resolver, `export default function resolve(c) {
  if (c.kind !== 'column') return { take: 'hub' };
  if (c.columns.includes('notes')) return { values: { notes: c.hub.values.notes + ' / ' + c.node.values.notes } };
  if (c.node.values.status === 'escalate') return { manual: true, reason: 'escalated' };
  if (c.node.values.status === 'boom') throw new Error('boom');
  return { take: 'node' };
}
`);
    const { hub, a, b } = await setup(t, { direction: 'both', policy: 'merge', columns: { notes: 'custom', status: 'custom' }, resolver }, 5, dir);
    await set(a, 1, 'notes = ?', 'from A');
    await set(b, 2, 'status = ?', 'lost'); // older than A's: stamps alone would drop it
    await tick();
    await set(b, 1, 'notes = ?', 'from B');
    await set(a, 2, 'status = ?', 'repair');
    await set(a, 3, 'status = ?', 'repair');
    await set(a, 4, 'status = ?', 'repair');
    await tick();
    await set(b, 3, 'status = ?', 'escalate');
    await set(b, 4, 'status = ?', 'boom');
    await a.agent.sync();
    await b.agent.sync();
    // Item 5: updated, then deleted elsewhere: the resolver keeps the row.
    await set(b, 5, 'status = ?', 'repair');
    await b.agent.sync();
    await a.app.run('DELETE FROM items WHERE id = ?', ID(5));
    await a.agent.sync();
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);

    assert.equal((await itemOn(a.db, 1))?.notes, 'from A / from B');
    assert.equal((await of(hub, 1)).length, 2, "both sides gave way to the resolver's value");
    assert.equal((await itemOn(a.db, 2))?.status, 'lost', "the resolver took the node's side against the stamps");
    assert.deepEqual([(await itemOn(b.db, 3))?.status, (await itemOn(b.db, 4))?.status], ['repair', 'repair'], 'left to an admin: the hub keeps its value');
    const open = await hub.hub.conflicts({ status: 'open' });
    assert.deepEqual(open.map((c) => [c.pk[0], c.lost.value]).sort(), [[ID(3), 'escalate'], [ID(4), 'boom']]);
    assert.match(open.find((c) => c.pk[0] === ID(4))!.rule, /resolver failed: boom/);
    assert.equal((await itemOn(a.db, 5))?.status, 'repair', 'the resolver kept the updated row');
  });
}

async function idOf(hub: MatrixHub, name: string): Promise<string> {
  const n = await hub.db.read((tx) => tx.nodeByName(name));
  return n!.id;
}
