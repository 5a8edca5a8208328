import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { oimsDatabase, tempDir } from '../helpers/fixtures.ts';
import { canonicalRows } from '../helpers/replicas.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { HubProcess, cannot, integrity, isRoot, joinLab, logDuplicates, outpostProcess, query, sh, skipBecause } from './processes-kit.ts';

/**
 * A lab whose SQLite file lives on a small tmpfs that fills up (needs root
 * for `mount -t tmpfs`; skipped, with the reason, where the machine does not
 * allow it).
 */

/** Mount a tmpfs of `size` on a fresh directory, unmounted and removed when the test ends; or why it cannot. */
function smallDisk(t: { after: (fn: () => unknown) => void }, size: string): string | { skip: string } {
  if (!isRoot()) return { skip: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'outpost-tmpfs-'));
  const why = cannot('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (why) {
    rmdirSync(dir);
    return { skip: `cannot mount a tmpfs here: ${why}` };
  }
  t.after(() => {
    sh('umount', ['-l', dir]);
    rmdirSync(dir);
  });
  return dir;
}

/** Write zeros to `path` until the file system is full; the file is what frees the space again. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    for (const size of [1 << 20, 65536, 4096, 512, 1]) {
      const buf = Buffer.alloc(size);
      try {
        for (;;) bytes += writeSync(fd, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

const pendingOf = async (labPath: string): Promise<number> => {
  const r = await outpostProcess(['status', '--db', `sqlite:${labPath}`, '--json']).done;
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { pending: number }).pending;
};

test('a lab whose disk fills: sync fails with DISK_FULL, nothing is corrupted or lost, and it converges once there is space', async (t) => {
  const disk = smallDisk(t, '8m');
  if (typeof disk !== 'string') return skipBecause(t, disk.skip);
  const dir = tempDir(t, 'outpost-diskfull-');
  const hubPath = oimsDatabase(join(dir, 'hub.db'));
  const hub = await HubProcess.start(hubPath);
  t.after(() => hub.kill());
  const labPath = join(disk, 'lab-a.db');
  await joinLab(hub, 'lab-a', labPath);

  // The lab app writes while there is room; these are not synced yet.
  const app = new Database(labPath);
  t.after(() => app.close());
  app.pragma('busy_timeout = 5000');
  const ins = app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)");
  for (let i = 1; i <= 20; i++) ins.run(`lab-a-${i}`, `lab item ${i}`, i);
  // The website adds enough rows that pulling them needs space.
  const web = new Database(hubPath);
  web.pragma('busy_timeout = 5000');
  const wins = web.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-c', ?, ?, ?)");
  web.transaction(() => { for (let i = 1; i <= 3000; i++) wins.run(`hub-${i}`, `hub item ${i}`, i, 'n'.repeat(400)); })();
  web.close();

  const pendingBefore = await pendingOf(labPath);
  assert.equal(pendingBefore, 20);
  const filler = join(disk, 'filler');
  const filled = fill(filler);
  assert.ok(filled > 0, 'the tmpfs had room to fill');

  // The lab app's own write fails with SQLITE_FULL, and leaves Outpost's bookkeeping as it was.
  assert.throws(() => ins.run('lab-a-big', 'x'.repeat(200_000), 1), (e: { code?: string }) => e.code === 'SQLITE_FULL');
  assert.equal(integrity(labPath), 'ok');
  assert.equal(await pendingOf(labPath), pendingBefore, 'the failed app write captured nothing, and lost nothing');

  const failed = await outpostProcess(['sync', '--db', `sqlite:${labPath}`, '--json']).done;
  const out = JSON.parse(failed.stdout.trim().split('\n').pop()!) as { ok: boolean; code: string; message: string };
  console.log(`# sync on a full disk: exit ${failed.code}, ${out.code}: ${out.message}`);
  assert.equal(out.code, 'DISK_FULL', `a full disk is named as such: ${failed.stdout}${failed.stderr}`);
  assert.match(out.message, /disk .*is full/);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /\[DISK_FULL\]/);
  assert.equal(integrity(labPath), 'ok', 'the lab file is intact after the failed sync');
  assert.equal(integrity(hubPath), 'ok');
  const labItems = query<{ id: string }>(labPath, "SELECT id FROM items WHERE lab_id = 'lab-a'").map((r) => r.id);
  assert.equal(labItems.length, 20, 'the committed app writes are all there');

  // Space comes back: the next sync converges.
  rmSync(filler);
  const ok = await outpostProcess(['sync', '--db', `sqlite:${labPath}`, '--json']).done;
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(integrity(labPath), 'ok');
  const [h, l] = [await openAdapter(`sqlite:${hubPath}`), await openAdapter(`sqlite:${labPath}`)];
  t.after(() => h.close());
  t.after(() => l.close());
  for (const table of ['labs', 'categories', 'items']) assert.deepEqual(await canonicalRows(l, table), await canonicalRows(h, table), `${table} equal after space came back`);
  const atHub = new Set(query<{ id: string }>(hubPath, 'SELECT id FROM items').map((r) => r.id));
  for (let i = 1; i <= 20; i++) assert.ok(atHub.has(`lab-a-${i}`), `lab-a-${i} reached the hub`);
  assert.ok(!atHub.has('lab-a-big'), 'the app write that failed was never committed, so it never travels');
  assert.equal(atHub.size, 3020);
  assert.equal(await pendingOf(labPath), 0);
});

test('a hub whose disk fills: a push is answered 507 DISK_FULL, the lab keeps its changes, and it converges once there is space', async (t) => {
  const disk = smallDisk(t, '8m');
  if (typeof disk !== 'string') return skipBecause(t, disk.skip);
  const dir = tempDir(t, 'outpost-hubfull-');
  const hubPath = oimsDatabase(join(disk, 'hub.db'));
  const hub = await HubProcess.start(hubPath);
  t.after(() => hub.kill());
  const labPath = join(dir, 'lab-a.db');
  await joinLab(hub, 'lab-a', labPath);
  const app = new Database(labPath);
  t.after(() => app.close());
  app.pragma('busy_timeout = 5000');
  const ins = app.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', ?, ?, ?)");
  app.transaction(() => { for (let i = 1; i <= 2000; i++) ins.run(`lab-a-${i}`, `lab item ${i}`, i, 'n'.repeat(400)); })();
  const filler = join(disk, 'filler');
  assert.ok(fill(filler) > 0);

  const failed = await outpostProcess(['sync', '--db', `sqlite:${labPath}`, '--json']).done;
  const out = JSON.parse(failed.stdout.trim().split('\n').pop()!) as { code: string; message: string };
  console.log(`# sync against a hub with a full disk: exit ${failed.code}, ${out.code}: ${out.message}`);
  assert.equal(out.code, 'DISK_FULL', `${failed.stdout}${failed.stderr}`);
  assert.match(out.message, /^hub: the disk holding the database is full/);
  assert.equal(integrity(hubPath), 'ok');
  assert.equal(await pendingOf(labPath), 2000, 'the lab keeps every change the hub could not take');
  assert.equal(query<{ n: number }>(hubPath, "SELECT COUNT(*) AS n FROM items WHERE lab_id = 'lab-a'")[0]!.n, 0, 'nothing of the push was committed');

  rmSync(filler);
  const ok = await outpostProcess(['sync', '--db', `sqlite:${labPath}`, '--json']).done;
  assert.equal(ok.code, 0, `the hub process kept running and takes the push now: ${ok.stderr}`);
  assert.equal(integrity(hubPath), 'ok');
  assert.equal(query<{ n: number }>(hubPath, "SELECT COUNT(*) AS n FROM items WHERE lab_id = 'lab-a'")[0]!.n, 2000);
  assert.equal(await pendingOf(labPath), 0);
  assert.deepEqual(logDuplicates(hubPath), []);
});
