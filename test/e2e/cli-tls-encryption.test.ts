import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Cipher from 'better-sqlite3-multiple-ciphers';
import { BIN, outpost, freePort, startHubProcess } from '../helpers/cli.ts';
import { oimsDatabase, rowsOf, tempDir, OIMS_CONFIG, ROOT } from '../helpers/fixtures.ts';
import { makePki } from '../helpers/tls.ts';

const KEY_A = 'lab-a passphrase: open sesame';
const KEY_B = 'lab-b passphrase from a file';
const MARKER = 'CLI-PLAINTEXT-CANARY-93ab';

/** What a failed command printed must name no key and no certificate. */
function noSecrets(text: string): void {
  for (const s of [KEY_A, KEY_B, 'BEGIN', 'PRIVATE KEY']) assert.ok(!text.includes(s), `"${s}" appears in: ${text}`);
}

function scanFor(dir: string, base: string, needle: string): string[] {
  return readdirSync(dir).filter((f) => (f === base || f.startsWith(`${base}-`)) && readFileSync(join(dir, f)).includes(Buffer.from(needle)));
}

test('the real CLI: an HTTPS hub, labs joining with --ca into encrypted databases, syncing, and the errors', async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  oimsDatabase(join(dir, 'hub.db'));
  const port = await freePort();
  const hub = await startHubProcess(dir, ['--db', 'sqlite:hub.db', '--port', String(port), '--config', OIMS_CONFIG, '--tls-cert', pki.certFile, '--tls-key', pki.keyFile]);
  t.after(() => hub.kill('SIGTERM'));
  const url = `https://127.0.0.1:${port}`;
  assert.match(hub.banner, new RegExp(`listening on ${url.replace(/\./g, '\\.')}\\n`));
  assert.match(hub.banner, /--ca/);

  const code = (name: string): string => {
    const r = outpost(dir, ['node', 'add', name, '--db', 'sqlite:hub.db']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  // lab-a: key from the environment; lab-b: key from a file.
  const keyFile = join(dir, 'lab-b.key');
  writeFileSync(keyFile, KEY_B + '\n', { mode: 0o600 });
  const envA = { OUTPOST_DB_KEY: KEY_A };
  const ja = outpost(dir, ['join', '--hub', url, '--code', code('lab-a'), '--db', 'sqlite:lab-a.db', '--ca', pki.caFile], envA);
  assert.equal(ja.code, 0, ja.stderr);
  assert.match(ja.stdout, /joined https:\/\/127\.0\.0\.1:\d+ as lab-a .*snapshot 7 rows/);
  const jb = outpost(dir, ['join', '--hub', url, '--code', code('lab-b'), '--db', 'sqlite:lab-b.db', '--ca', pki.caFile, '--db-key-file', keyFile]);
  assert.equal(jb.code, 0, jb.stderr);

  // The lab app writes rows carrying the marker, through its own keyed connection.
  const app = new Cipher(join(dir, 'lab-a.db'));
  app.pragma("cipher = 'sqlcipher'");
  app.pragma('legacy = 4');
  app.pragma(`key = '${KEY_A}'`);
  app.pragma('busy_timeout = 5000');
  const ins = app.prepare('INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, ?, ?, ?, ?)');
  app.transaction(() => {
    for (let i = 0; i < 50; i++) ins.run(`8e000000-0000-4000-8000-${String(i).padStart(12, '0')}`, 'lab-a', `${MARKER} ${i}`, i, MARKER);
  })();

  // Later commands use the CA stored at join, and need the key.
  const sa = outpost(dir, ['sync', '--db', 'sqlite:lab-a.db', '--json'], envA);
  assert.equal(sa.code, 0, sa.stderr);
  assert.equal((JSON.parse(sa.stdout) as { pushed: number }).pushed, 50);
  const sb = outpost(dir, ['sync', '--db', 'sqlite:lab-b.db', '--json', '--db-key-file', keyFile]);
  assert.equal(sb.code, 0, sb.stderr);
  assert.equal((JSON.parse(sb.stdout) as { pulled: number }).pulled, 50);
  assert.equal(rowsOf(join(dir, 'hub.db'), 'items').filter((r) => r.notes === MARKER).length, 50);

  // No plaintext in either lab's files (the app's connection is still open: the WAL is there).
  assert.ok(readdirSync(dir).includes('lab-a.db-wal'));
  assert.deepEqual(scanFor(dir, 'lab-a.db', MARKER), []);
  assert.deepEqual(scanFor(dir, 'lab-b.db', MARKER), []);
  assert.ok(scanFor(dir, 'hub.db', MARKER).length > 0, 'the plain hub files have it: the scan sees plaintext');
  app.close();

  // The reference lab app (examples/oims/lab-app-encrypted.mjs) reads lab-b with lab-b's key.
  const example = spawnSync(process.execPath, [join(ROOT, 'examples/oims/lab-app-encrypted.mjs'), join(dir, 'lab-b.db'), `SELECT COUNT(*) AS n FROM items WHERE notes = '${MARKER}'`], { encoding: 'utf8', env: { ...process.env, OUTPOST_DB_KEY: KEY_B } });
  assert.equal(example.status, 0, example.stderr);
  assert.equal(example.stdout, '{"n":50}\n');

  // verify (with --ca given again: the same CA, kept) and status.
  const v = outpost(dir, ['verify', '--db', 'sqlite:lab-b.db', '--ca', pki.caFile, '--db-key-file', keyFile, '--json']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal((JSON.parse(v.stdout) as { equal: boolean }).equal, true);
  const st = outpost(dir, ['status', '--db', 'sqlite:lab-a.db', '--json'], envA);
  assert.equal(st.code, 0, st.stderr);
  assert.equal((JSON.parse(st.stdout) as { pending: number }).pending, 0);

  // Without the key, or with a wrong one: DB_KEY_INVALID, exit 1, and the key never printed.
  for (const [args, env] of [
    [['sync', '--db', 'sqlite:lab-a.db'], { OUTPOST_DB_KEY: '' }],
    [['sync', '--db', 'sqlite:lab-a.db'], { OUTPOST_DB_KEY: KEY_B }],
    [['status', '--db', 'sqlite:lab-b.db', '--json'], { OUTPOST_DB_KEY: KEY_A }],
    [['sync', '--db', 'sqlite:lab-b.db', '--db-key-file', join(dir, 'missing.key')], {}],
  ] as const) {
    const r = outpost(dir, [...args], env);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /\[DB_KEY_INVALID\]\n$/);
    noSecrets(r.stderr + r.stdout);
  }

  // A lab without the CA, or with the wrong one: HUB_TLS_FAILED, exit 3, nothing joined.
  const noCa = outpost(dir, ['join', '--hub', url, '--code', code('lab-c'), '--db', 'sqlite:lab-c.db']);
  assert.equal(noCa.code, 3, noCa.stderr);
  assert.match(noCa.stderr, /^outpost: the hub at https:\/\/127\.0\.0\.1:\d+ is not trusted: .*give that CA with --ca FILE \[HUB_TLS_FAILED\]\n$/);
  const wrongCa = outpost(dir, ['join', '--hub', url, '--code', code('lab-d'), '--db', 'sqlite:lab-d.db', '--ca', pki.otherCaFile, '--json']);
  assert.equal(wrongCa.code, 3, wrongCa.stderr);
  assert.equal((JSON.parse(wrongCa.stdout) as { code: string }).code, 'HUB_TLS_FAILED');
  noSecrets(noCa.stderr + wrongCa.stderr + wrongCa.stdout);
  // Without --ca the node trusts Node's store, which NODE_EXTRA_CA_CERTS extends (e.g. with the
  // system's bundle, /etc/ssl/certs/ca-certificates.crt): then no CA is stored, and sync works too.
  const extra = { NODE_EXTRA_CA_CERTS: pki.caFile, OUTPOST_DB_KEY: '' };
  const viaStore = outpost(dir, ['join', '--hub', url, '--code', code('lab-e'), '--db', 'sqlite:lab-e.db'], extra);
  assert.equal(viaStore.code, 0, viaStore.stderr);
  assert.match(viaStore.stdout, /snapshot \d+ rows/);
  assert.equal(outpost(dir, ['sync', '--db', 'sqlite:lab-e.db'], extra).code, 0);
  const without = outpost(dir, ['sync', '--db', 'sqlite:lab-e.db'], { OUTPOST_DB_KEY: '' });
  assert.equal(without.code, 3, 'nothing was stored: without the extra CA the hub is not trusted');
  assert.match(without.stderr, /\[HUB_TLS_FAILED\]/);
  const badCa = outpost(dir, ['sync', '--db', 'sqlite:lab-a.db', '--ca', keyFile], envA);
  assert.equal(badCa.code, 1);
  assert.match(badCa.stderr, /lab-b\.key: the CA file holds no PEM certificate \[TLS_CONFIG_INVALID\]/);
  noSecrets(badCa.stderr);

  // run, with --ca: one sync line, then SIGTERM.
  const run = spawn(process.execPath, [BIN, 'run', '--db', 'sqlite:lab-a.db', '--interval', '0.2', '--json', '--ca', pki.caFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...envA } });
  t.after(() => run.kill('SIGKILL'));
  let out = '';
  run.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  run.stderr!.resume();
  for (let i = 0; i < 200 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(out.split('\n')[0]!, /^\{"ok":true,/);
  run.kill('SIGTERM');
  assert.equal(await new Promise((r) => run.once('exit', r)), 0);
});

test('outpost hub refuses TLS files that cannot be used, naming the file and not its content', async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  oimsDatabase(join(dir, 'hub.db'));
  const port = String(await freePort());
  const base = ['hub', '--db', 'sqlite:hub.db', '--port', port, '--config', OIMS_CONFIG];
  const cases: [string[], RegExp][] = [
    [['--tls-cert', pki.certFile], /--tls-cert and --tls-key go together/],
    [['--tls-cert', pki.certFile, '--tls-key', join(dir, 'other-ca.key')], /cannot be used together: key values mismatch/],
    [['--tls-cert', pki.keyFile, '--tls-key', pki.keyFile], /hub\.key holds no PEM certificate/],
    [['--tls-cert', pki.certFile, '--tls-key', join(dir, 'nope.key')], /cannot read the key file .*nope\.key \(ENOENT\)/],
  ];
  for (const [args, re] of cases) {
    const r = outpost(dir, [...base, ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /\[TLS_CONFIG_INVALID\]\n$/);
    noSecrets(r.stderr + r.stdout);
  }
});

test("the real CLI: the hub's own SQLite database encrypted with OUTPOST_DB_KEY, created with the example schema", async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const env = { OUTPOST_DB_KEY: KEY_A };
  const hub = await startHubProcess(dir, ['--db', 'sqlite:hub.db', '--port', String(port)], env);
  t.after(() => hub.kill('SIGTERM'));
  assert.notEqual(readFileSync(join(dir, 'hub.db')).subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
  const add = outpost(dir, ['node', 'add', 'lab-a', '--db', 'sqlite:hub.db'], env);
  assert.equal(add.code, 0, add.stderr);
  const noKey = outpost(dir, ['node', 'add', 'lab-b', '--db', 'sqlite:hub.db'], { OUTPOST_DB_KEY: '' });
  assert.equal(noKey.code, 1);
  assert.match(noKey.stderr, /sqlite:hub\.db is encrypted .*\[DB_KEY_INVALID\]\n$/);
  // A plain lab joins the encrypted hub: the key is the hub's business only.
  const j = outpost(dir, ['join', '--hub', `http://127.0.0.1:${port}`, '--code', add.stdout.trim(), '--db', 'sqlite:lab-a.db'], { OUTPOST_DB_KEY: '' });
  assert.equal(j.code, 0, j.stderr);
  assert.equal(readFileSync(join(dir, 'lab-a.db')).subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
  assert.ok(rowsOf(join(dir, 'lab-a.db'), 'categories').length > 0);
  assert.deepEqual(scanFor(dir, 'hub.db', 'Glassware'), [], 'the seed rows are not in plaintext in the hub files');
  assert.ok(scanFor(dir, 'lab-a.db', 'Glassware').length > 0, 'they are in the plain lab file');
});
