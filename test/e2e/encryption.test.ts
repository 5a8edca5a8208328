import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Cipher from 'better-sqlite3-multiple-ciphers';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { Hub } from '../../src/hub/hub.ts';
import { buildServer } from '../../src/hub/server.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import { OIMS_CONFIG, OIMS_SCHEMA, rowsOf, startHub, tempDir } from '../helpers/fixtures.ts';

const KEY = 'correct horse battery staple ☃ \' "';
const MARKER = 'PLAINTEXT-CANARY-5be1c0de';

/**
 * The lab app opening the encrypted file, as docs/security.md
 * says: SQLCipher 4's `PRAGMA key` on a SQLite3MultipleCiphers build set to
 * the SQLCipher scheme (an SQLCipher 4 build needs only the `key` line).
 */
function appConnection(path: string, key: string): Cipher.Database {
  const db = new Cipher(path);
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  db.pragma(`key = '${key.replace(/'/g, "''")}'`);
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Every file of the database (main file, -wal, -shm, -journal) and whether it contains `needle`. */
function scan(dir: string, base: string, needles: string[]): { files: string[]; found: string[] } {
  const files = readdirSync(dir).filter((f) => f === base || f.startsWith(`${base}-`));
  const found: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(join(dir, f));
    for (const n of needles) {
      for (const enc of ['utf8', 'utf16le'] as const) if (bytes.includes(Buffer.from(n, enc))) found.push(`${f}: ${n} (${enc})`);
    }
  }
  return { files, found };
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function rejectsWith(code: string, re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof OutpostError, `expected an OutpostError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes(KEY) && !e.message.includes('wrong key value'), 'the key is never in a message');
    return true;
  };
}

test('an encrypted lab: join creates it encrypted, rows sync both ways, and no plaintext is in the db, WAL or shm', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const path = join(dir, 'lab-a.db');
  const db = await openAdapter(`sqlite:${path}`, { key: KEY });
  t.after(() => db.close());
  await NodeAgent.join(db, hub.url, (await addNode(hub.hub.db, 'lab-a')).code);
  assert.notEqual(readFileSync(path).subarray(0, 16).toString('latin1'), 'SQLite format 3\0', 'no plaintext SQLite header');

  // The lab app writes through its own connection, with the key.
  const app = appConnection(path, KEY);
  t.after(() => app.close());
  const insert = app.prepare('INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, ?, ?, ?, ?)');
  app.transaction(() => {
    for (let i = 0; i < 50; i++) insert.run(`7d5b1c2e-0000-4000-8000-${String(i).padStart(12, '0')}`, 'lab-a', `${MARKER} item ${i}`, i, `${MARKER} notes ${'x'.repeat(200)}`);
  })();
  const agent = await NodeAgent.open(db);
  const s = await agent.sync();
  assert.equal(s.pushed, 50);
  // Rows from the hub arrive encrypted too.
  // The website on the plain hub file: the stock driver, as Outpost's adapter uses for plain files (one SQLite copy per file in a process).
  const web = new Database(hub.dbPath);
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('a0000000-0000-4000-8000-0000000000ff', 'lab-c', ?, 1)").run(`${MARKER} from the website`);
  web.close();
  assert.equal((await agent.sync()).pulled, 1);
  assert.equal((app.prepare('SELECT COUNT(*) AS n FROM items WHERE name LIKE ?').get(`${MARKER}%`) as { n: number }).n, 51);
  assert.equal(rowsOf(hub.dbPath, 'items').filter((r) => String(r.name).startsWith(MARKER)).length, 51, 'the marker is there in plaintext on the (unencrypted) hub: the scan would see it');

  // While both connections are open the WAL and shm exist; scan every file.
  const open = scan(dir, 'lab-a.db', [MARKER, KEY, 'Burette', 'glassware']);
  assert.ok(open.files.includes('lab-a.db-wal') && open.files.includes('lab-a.db-shm'), `WAL and shm present: ${open.files.join(', ')}`);
  assert.ok(readFileSync(join(dir, 'lab-a.db-wal')).length > 0, 'the WAL holds pages');
  assert.deepEqual(open.found, [], 'no plaintext in the files of an open database');
  app.close();
  await db.close();
  const closed = scan(dir, 'lab-a.db', [MARKER, KEY, 'glassware']);
  assert.deepEqual(closed.found, [], 'no plaintext after the checkpoint either');
  // The same scan finds the marker in a plaintext file, so it is not blind.
  assert.ok(scan(dir, 'hub.db', [MARKER]).found.length > 0);

  // Later opens need the key: the right one works, no key or a wrong one is DB_KEY_INVALID, and the file is untouched.
  const before = sha(path);
  await assert.rejects(openAdapter(`sqlite:${path}`, { mustExist: true }), rejectsWith('DB_KEY_INVALID', /is encrypted .*OUTPOST_DB_KEY or --db-key-file/));
  await assert.rejects(openAdapter(`sqlite:${path}`, { mustExist: true, key: 'wrong key value' }), rejectsWith('DB_KEY_INVALID', /the key does not open/));
  assert.equal(sha(path), before, 'a failed open changes nothing');
  assert.ok(!existsSync(`${path}-wal`) || readFileSync(`${path}-wal`).length === 0);
  const again = await openAdapter(`sqlite:${path}`, { mustExist: true, key: KEY });
  t.after(() => again.close());
  const st = await (await NodeAgent.open(again)).status();
  assert.equal(st.nodeName, 'lab-a');
  assert.equal(st.pending, 0);
});

test('keys and files that do not fit: a key for a plain file, a key for a server URL, an empty database is never made in place', async (t) => {
  const dir = tempDir(t);
  const plain = join(dir, 'plain.db');
  const p = new Database(plain);
  p.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('hello')");
  p.close();
  const before = sha(plain);
  await assert.rejects(openAdapter(`sqlite:${plain}`, { key: KEY }), rejectsWith('DB_KEY_INVALID', /is not encrypted, but a key was given/));
  assert.equal(sha(plain), before);
  // A file that is not a database at all, without a key.
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'this is not a database, just some text long enough');
  await assert.rejects(openAdapter(`sqlite:${junk}`), rejectsWith('DB_KEY_INVALID', /is encrypted \(or is not a SQLite database\)/));
  await assert.rejects(openAdapter(`sqlite:${junk}`, { key: KEY }), rejectsWith('DB_KEY_INVALID', /the key does not open/));
  assert.equal(readFileSync(junk, 'utf8'), 'this is not a database, just some text long enough');
  await assert.rejects(openAdapter('mysql://root@127.0.0.1:3306/x', { key: KEY }), rejectsWith('DB_KEY_INVALID', /only for SQLite files/));
  await assert.rejects(openAdapter('postgres://postgres@127.0.0.1:5432/x', { key: KEY }), rejectsWith('DB_KEY_INVALID', /only for SQLite files/));
  // A file the app encrypted with SQLCipher's own `PRAGMA key` opens with the same passphrase (same key derivation).
  const byApp = join(dir, 'by-app.db');
  const a = appConnection(byApp, KEY);
  a.exec(`CREATE TABLE made_by_app (x TEXT); INSERT INTO made_by_app VALUES ('${MARKER}')`);
  a.close();
  const opened = new SqliteAdapter(byApp, { key: KEY });
  t.after(() => opened.close());
  assert.deepEqual((await opened.introspect()).map((x) => x.name), ['made_by_app']);
  assert.deepEqual(scan(dir, 'by-app.db', [MARKER]).found, []);
  // Unencrypted files open as before, with no key.
  const ok = new SqliteAdapter(plain);
  t.after(() => ok.close());
  assert.deepEqual((await ok.introspect()).map((x) => x.name), ['t']);
});

test("the hub's own SQLite database can be encrypted the same way", async (t) => {
  const dir = tempDir(t);
  const hubPath = join(dir, 'hub.db');
  const db = new SqliteAdapter(hubPath, { key: KEY });
  await db.execScript(readFileSync(OIMS_SCHEMA, 'utf8'));
  const hub = await Hub.open(db, loadHubConfig(OIMS_CONFIG));
  const app = await buildServer(hub);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  t.after(async () => {
    await app.close();
    await db.close();
  });
  const web = appConnection(hubPath, KEY);
  web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('a0000000-0000-4000-8000-0000000000aa', 'lab-c', ?, 2)").run(`${MARKER} on the hub`);
  web.close();
  const lab = new SqliteAdapter(join(dir, 'lab.db'));
  t.after(() => lab.close());
  const { summary } = await NodeAgent.join(lab, url, (await addNode(db, 'lab')).code);
  assert.ok(summary.snapshotRows > 0);
  assert.equal(rowsOf(join(dir, 'lab.db'), 'items').filter((r) => String(r.name).startsWith(MARKER)).length, 1);
  assert.deepEqual(scan(dir, 'hub.db', [MARKER, KEY]).found, []);
});
