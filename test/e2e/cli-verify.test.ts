import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { outpost, freePort, startHubProcess } from '../helpers/cli.ts';
import { tempDir, oimsDatabase, OIMS_CONFIG } from '../helpers/fixtures.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { readNodeState } from '../../src/node/node-state.ts';

const ITEM = '5f0c1a8e-7f1b-4c1e-9d2a-2b1f3c4d5e6f';

test('outpost verify names the rows that differ, exits 4 until --repair fixes them, and exits 0 when equal', async (t) => {
  const dir = tempDir(t);
  oimsDatabase(join(dir, 'hub.db'));
  const web = new Database(join(dir, 'hub.db'));
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'Erlenmeyer flask', 24)").run(ITEM);
  web.close();
  const port = await freePort();
  const hub = await startHubProcess(dir, ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG]);
  t.after(() => hub.kill('SIGTERM'));
  const code = outpost(dir, ['node', 'add', 'lab-a', '--db', 'sqlite:hub.db']).stdout.trim();
  const joined = outpost(dir, ['join', '--hub', `http://127.0.0.1:${port}`, '--code', code, '--db', 'sqlite:lab-a.db']);
  assert.equal(joined.code, 0, joined.stderr);

  const clean = outpost(dir, ['verify', '--db', 'sqlite:lab-a.db']);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /^synced: pushed 0, pulled 0/);
  assert.match(clean.stdout, /items: 1 row\(s\) here, 1 on the hub, equal/);
  assert.match(clean.stdout, /stock_movements: skipped \(direction up/);
  assert.match(clean.stdout, /verify: the node matches the hub, \d+ ms\n$/);

  // Behind Outpost's back (an echo-suppressed write: not captured, no stamp moves).
  const lab = new SqliteAdapter(join(dir, 'lab-a.db'));
  const tables = new Map((await lab.read(readNodeState)).tables.map((x) => [x.name, x]));
  await lab.write(async (tx) => {
    await tx.updateRow(tables.get('items')!, [ITEM], { quantity: 999, notes: 'tampered' });
    await tx.deleteRow(tables.get('labs')!, ['lab-c']);
  });
  await lab.close();

  const found = outpost(dir, ['verify', '--db', 'sqlite:lab-a.db', '--no-sync']);
  assert.equal(found.code, 4, found.stderr);
  assert.doesNotMatch(found.stdout, /^synced:/, '--no-sync does not sync');
  assert.match(found.stdout, new RegExp(`items: 1 row\\(s\\) here, 1 on the hub; 1 of 256 buckets differ, 1 row\\(s\\) compared one by one\\n  \\["${ITEM}"\\] values-differ, differs: quantity: here 999, hub 24; notes: here "tampered", hub null`));
  assert.match(found.stdout, /labs: 2 row\(s\) here, 3 on the hub; 1 of 256 buckets differ.*\n {2}\["lab-c"\] missing-on-node, differs: the hub has this row, the node does not/);
  assert.match(found.stdout, /verify: 2 row\(s\) differ \(run with --repair/);

  const json = outpost(dir, ['verify', '--db', 'sqlite:lab-a.db', '--json', '--buckets', '16']);
  assert.equal(json.code, 4, json.stderr);
  const report = JSON.parse(json.stdout) as { ok: boolean; equal: boolean; remaining: number; buckets: number; tables: { table: string; differences: { pk: unknown[]; kind: string; columns: string[] }[] }[] };
  assert.deepEqual([report.ok, report.equal, report.remaining, report.buckets], [true, false, 2, 16]);
  assert.deepEqual(report.tables.find((x) => x.table === 'items')!.differences.map((d) => [d.pk, d.kind, d.columns]), [[[ITEM], 'values-differ', ['quantity', 'notes']]]);

  const repaired = outpost(dir, ['verify', '--db', 'sqlite:lab-a.db', '--repair']);
  assert.equal(repaired.code, 0, repaired.stderr);
  assert.match(repaired.stdout, /values-differ, repaired/);
  assert.match(repaired.stdout, /verify: repaired 2 row\(s\); the node now matches the hub/);
  const again = outpost(dir, ['verify', '--db', 'sqlite:lab-a.db']);
  assert.equal(again.code, 0, again.stdout);
  assert.match(again.stdout, /verify: the node matches the hub/);
  const recorded = new Database(join(dir, 'lab-a.db'), { readonly: true });
  const repairs = recorded.prepare('SELECT tbl, pk, kind, old_values FROM _outpost_repairs ORDER BY id').all() as { tbl: string; pk: string; kind: string; old_values: string | null }[];
  recorded.close();
  assert.deepEqual(repairs.map((r) => [r.tbl, r.kind]).sort(), [['items', 'values-differ'], ['labs', 'missing-on-node']]);
  assert.equal((JSON.parse(repairs.find((r) => r.tbl === 'items')!.old_values!) as { quantity: number }).quantity, 999);

  // Bad arguments and the wrong database are refused as by the other commands.
  assert.equal(outpost(dir, ['verify', '--db', 'sqlite:lab-a.db', '--buckets', '0']).code, 2);
  const onHub = outpost(dir, ['verify', '--db', 'sqlite:hub.db', '--json']);
  assert.equal(onHub.code, 1);
  assert.equal((JSON.parse(onHub.stdout) as { code: string }).code, 'NOT_ENROLLED');
});
