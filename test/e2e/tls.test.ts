import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { readNodeState } from '../../src/node/node-state.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import { joinNode, rowsOf, startHub, tempDir, type RunningHub } from '../helpers/fixtures.ts';
import { makePki, type TestPki } from '../helpers/tls.ts';

async function httpsHub(t: { after: (fn: () => unknown) => void }): Promise<{ dir: string; pki: TestPki; hub: RunningHub }> {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const hub = await startHub(dir, { tls: { cert: pki.cert, key: pki.key } });
  t.after(() => hub.close());
  return { dir, pki, hub };
}

/** A rejection with `code` whose message matches `re` and never carries PEM text. */
function outpostError(code: string, re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof OutpostError, `expected an OutpostError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /BEGIN|PRIVATE|CERTIFICATE-----/);
    return true;
  };
}

const ITEM = "INSERT INTO items (id, lab_id, name, quantity) VALUES ('7d5b1c2e-0000-4000-8000-00000000a001', 'lab-a', 'Burette 50 ml', 3)";

test('a hub over HTTPS: labs join with the private CA, sync both ways; the CA is kept in the node state', async (t) => {
  const { dir, pki, hub } = await httpsHub(t);
  assert.match(hub.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  // join: fetch for /v1/join, /v1/handshake, /v1/push, /v1/pull; https.request for the snapshot stream
  const a = await joinNode(hub, dir, 'lab-a', { ca: pki.ca });
  t.after(() => a.close());
  const b = await joinNode(hub, dir, 'lab-b', { ca: pki.ca });
  t.after(() => b.close());
  assert.ok(rowsOf(a.path, 'categories').length > 0, 'the snapshot arrived over HTTPS');
  const state = await a.db.read(readNodeState);
  assert.equal(state.hubCa, pki.ca);
  assert.equal(state.hubUrl, hub.url);

  a.app.exec(ITEM);
  // Later agents opened without a CA use the stored one.
  const s1 = await (await NodeAgent.open(a.db)).sync();
  assert.equal(s1.pushed, 1);
  const s2 = await (await NodeAgent.open(b.db)).sync();
  assert.equal(s2.pulled, 1);
  assert.deepEqual(rowsOf(b.path, 'items'), rowsOf(a.path, 'items'));
  assert.deepEqual(rowsOf(hub.dbPath, 'items'), rowsOf(a.path, 'items'));
});

test('a lab without the CA, or with the wrong one, gets HUB_TLS_FAILED naming the certificate problem', async (t) => {
  const { dir, pki, hub } = await httpsHub(t);
  for (const [name, ca, why] of [['lab-x', undefined, /not signed by a trusted CA|not trusted/], ['lab-y', pki.otherCa, /--ca names the CA/]] as const) {
    const { code } = await addNode(hub.hub.db, name);
    const db = new SqliteAdapter(join(dir, `${name}.db`));
    t.after(() => db.close());
    await assert.rejects(NodeAgent.join(db, hub.url, code, { ca }), outpostError('HUB_TLS_FAILED', why));
    // Nothing was kept: the code was never sent.
    assert.equal(await db.read((tx) => tx.getState('role')), null);
  }

  // The snapshot stream (node:https, not fetch) refuses an untrusted hub the same way.
  const { code } = await addNode(hub.hub.db, 'lab-z');
  const joined = await new HubClient(hub.url, undefined, { ca: pki.ca }).join(code);
  await assert.rejects(new HubClient(hub.url, joined.token).snapshot(() => undefined), outpostError('HUB_TLS_FAILED', /not trusted/));
  await assert.rejects(new HubClient(hub.url, joined.token, { ca: pki.otherCa }).snapshot(() => undefined), outpostError('HUB_TLS_FAILED', /not trusted/));
  let lines = 0;
  await new HubClient(hub.url, joined.token, { ca: pki.ca }).snapshot(() => void lines++);
  assert.ok(lines > 2, 'header, rows and end over https.request with the CA');

  // A stored CA that no longer matches (the hub changed CA) fails every sync the same way until --ca replaces it.
  const a = await joinNode(hub, dir, 'lab-a', { ca: pki.ca });
  t.after(() => a.close());
  await assert.rejects((await NodeAgent.open(a.db, { ca: pki.otherCa })).sync(), outpostError('HUB_TLS_FAILED', /not trusted/));
  assert.equal((await a.db.read(readNodeState)).hubCa, pki.ca, 'a CA that failed is not stored');

  // The wrong host name: the certificate names 127.0.0.1 and localhost only.
  const hub2 = await startHub(tempDir(t), { tls: { cert: pki.cert, key: pki.key }, host: '0.0.0.0' });
  t.after(() => hub2.close());
  await assert.rejects(new HubClient(hub2.url.replace('127.0.0.1', '127.0.0.2'), undefined, { ca: pki.ca }).join('x'), (e: unknown) => {
    // 127.0.0.2 is loopback on Linux, so the hub (listening on every address) answers, with a certificate for other names.
    assert.ok(e instanceof OutpostError && e.code === 'HUB_TLS_FAILED', String(e));
    assert.match(e.message, /does not name this host.*ERR_TLS_CERT_ALTNAME_INVALID/);
    return true;
  });

  // http:// against the HTTPS hub, and https:// against a plain one.
  await assert.rejects(new HubClient(hub.url.replace('https:', 'http:')).join('x'), outpostError('HUB_UNREACHABLE', /use https:\/\//));
  const plain = await startHub(tempDir(t));
  t.after(() => plain.close());
  await assert.rejects(new HubClient(plain.url.replace('http:', 'https:'), undefined, { ca: pki.ca }).join('x'), outpostError('HUB_TLS_FAILED', /does not answer TLS/));
  // A CA for an http:// hub is a mistake, said at once.
  assert.throws(() => new HubClient(plain.url, undefined, { ca: pki.ca }), outpostError('TLS_CONFIG_INVALID', /not https/));
  assert.throws(() => new HubClient(hub.url, undefined, { ca: 'not a certificate' }), outpostError('TLS_CONFIG_INVALID', /no PEM certificate/));
});

/** The TLS version a client with these options negotiates with the hub, or the error it gets. */
function handshake(url: string, opts: ConnectionOptions): Promise<{ protocol: string | null } | { error: string }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port), servername: undefined, ...opts }, () => {
      const protocol = s.getProtocol();
      s.end();
      resolve({ protocol });
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve({ error: `${e.code ?? ''} ${e.message}` }));
  });
}

test('the hub refuses TLS 1.1 and 1.0, and speaks 1.2 and 1.3', async (t) => {
  const { pki, hub } = await httpsHub(t);
  // The client is allowed the old versions (security level 0, so that OpenSSL 3 offers them at
  // all): the refusal is the hub's, a protocol_version alert.
  for (const v of ['TLSv1.1', 'TLSv1'] as const) {
    const r = await handshake(hub.url, { ca: pki.ca, minVersion: 'TLSv1', maxVersion: v, ciphers: 'DEFAULT:@SECLEVEL=0' });
    assert.ok('error' in r, `the hub accepted ${v}`);
    assert.match(r.error, /ALERT_PROTOCOL_VERSION|protocol version/i, r.error);
  }
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await handshake(hub.url, { ca: pki.ca, minVersion: v, maxVersion: v });
    assert.deepEqual(r, { protocol: v });
  }
});
