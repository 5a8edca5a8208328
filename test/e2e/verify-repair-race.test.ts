import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubWithLabs, queryAll } from '../helpers/fixtures.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { verifyNode } from '../../src/node/verify.ts';
import { repairRows, type HubRow } from '../../src/node/verify-repair.ts';
import { rowKey } from '../../src/engine/index.ts';

test('a repair whose hub rows were fetched before a pull moved the cursor steps back from them: in flight, nothing written', async (t) => {
  const { labs: [lab] } = await hubWithLabs(t, ['lab-a']);
  const state = await lab!.db.read(readNodeState);
  const labs = state.tables.find((x) => x.name === 'labs')!;
  await lab!.db.write((tx) => tx.updateRow(labs, ['lab-b'], { name: 'tampered' }));
  const report = await verifyNode(lab!.agent, { sync: false });
  const diffs = report.tables.find((x) => x.table === 'labs')!.differences;
  assert.deepEqual(diffs.map((d) => [d.pk, d.kind, d.inFlight]), [[['lab-b'], 'values-differ', null]]);
  const hub = new Map<string, HubRow>(diffs.map((d) => [rowKey(d.table, d.pk), { pk: d.pk, values: d.hub, hlc: null, logAfter: false }]));
  const catalogue = new Map(state.tables.map((x) => [x.name, x]));

  // The cursor the fetch used is not the node's any more: a pull came in between.
  await repairRows(lab!.db, catalogue, diffs, hub, { cursor: state.cursor - 1, now: Date.now });
  assert.deepEqual(diffs.map((d) => [d.inFlight, d.repaired]), [['hub-newer', false]]);
  assert.equal(queryAll<{ name: string }>(lab!.path, "SELECT name FROM labs WHERE id = 'lab-b'")[0]!.name, 'tampered');
  assert.equal(queryAll(lab!.path, 'SELECT * FROM _outpost_repairs').length, 0);

  // With the cursor the rows were fetched at, the hub's row is taken.
  diffs[0]!.inFlight = null;
  await repairRows(lab!.db, catalogue, diffs, hub, { cursor: state.cursor, now: Date.now });
  assert.deepEqual(diffs.map((d) => [d.inFlight, d.repaired]), [[null, true]]);
  assert.equal(queryAll<{ name: string }>(lab!.path, "SELECT name FROM labs WHERE id = 'lab-b'")[0]!.name, 'Biology Lab B');
  assert.equal((await verifyNode(lab!.agent, { sync: false })).equal, true);
});
