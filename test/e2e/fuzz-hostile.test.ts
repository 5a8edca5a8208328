import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { OIMS_CONFIG, oimsDatabase, tempDir } from '../helpers/fixtures.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { Hub } from '../../src/hub/hub.ts';
import { buildServer } from '../../src/hub/server.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { loadHubConfig, parseHubConfig } from '../../src/hub/config.ts';
import { formatHlc } from '../../src/protocol/index.ts';
import { judge } from '../helpers/problem-check.ts';

/**
 * Hostile input (issue 7, point 8): thousands of random and malformed
 * requests against a real hub (SQLite, through `app.inject`), on every
 * route, with a valid node token, the admin token and garbage ones. No
 * answer may be a 5xx; every non-2xx answer is application/problem+json with
 * a known code; and no request may change anything. Requests that are valid
 * are harmless by construction: the node's acknowledged sequence is the
 * largest a push can name (so a valid push is a duplicate), no conflict is
 * open and no quarantine entry exists, and no enrollment code is known.
 * `OUTPOST_FUZZ_RUNS` sets how many requests (default 10,000).
 */
const RUNS = Number(process.env.OUTPOST_FUZZ_RUNS ?? 10_000);
const ADMIN = 'admin-token-for-fuzzing-0123456789';
const ID = '00000000-0000-4000-8000-000000000001';
const LIMIT = 64 * 1024;

interface World {
  app: FastifyInstance;
  dbPath: string;
  token: string;
  clock: string;
  version: string;
}

async function world(t: Parameters<typeof tempDir>[0]): Promise<World> {
  const dir = tempDir(t);
  const dbPath = oimsDatabase(join(dir, 'hub.db'));
  const db = new SqliteAdapter(dbPath);
  const hub = await Hub.open(db, parseHubConfig({ ...loadHubConfig(OIMS_CONFIG), limits: { bodyBytes: LIMIT, pullPage: 100 } }));
  const app = await buildServer(hub, { adminToken: ADMIN });
  t.after(async () => {
    await app.close();
    await db.close();
  });
  const { code } = await addNode(hub.db, 'fuzzer');
  const joined = (await app.inject({ method: 'POST', url: '/v1/join', payload: { code } })).json() as { token: string; nodeId: string };
  const clock = formatHlc({ wall: Date.now(), counter: 0, node: joined.nodeId });
  // A committed group whose end is the largest sequence a push may name: every valid push after it is a duplicate.
  const seed = await app.inject({
    method: 'POST', url: '/v1/push', headers: { authorization: `Bearer ${joined.token}` },
    payload: { from: 0, to: Number.MAX_SAFE_INTEGER, page: 0, pages: 1, cursor: 0, clock, changes: [insert(clock)] },
  });
  assert.equal(seed.statusCode, 200, seed.body);
  return { app, dbPath, token: joined.token, clock, version: hub.catalogue.version };
}

function insert(clock: string): Record<string, unknown> {
  return { table: 'items', pk: [ID], op: 'I', hlc: clock, cols: { id: ID, lab_id: 'lab-a', name: 'flask', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00Z' } };
}

/** Everything a request could change: every table of the hub's database, apart from when nodes were last seen and what they last pulled. */
function fingerprint(db: Database.Database): string {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  return tables.map((t) => {
    if (t === '_outpost_nodes') return JSON.stringify(db.prepare('SELECT id, name, code_hash, token_hash, acked_seq, revoked_at, joined_at FROM _outpost_nodes ORDER BY id').all());
    if (t === '_outpost_state') return JSON.stringify(db.prepare("SELECT * FROM _outpost_state WHERE k <> 'clock' ORDER BY k").all());
    return `${t}:${JSON.stringify(db.prepare(`SELECT * FROM "${t}" ORDER BY 1`).all())}`;
  }).join('\n');
}

// ---- generators ------------------------------------------------------------

const deep = (n: number, open: string, close: string, inner = '1'): string => open.repeat(n) + inner + close.repeat(n);
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
const NASTY_KEYS = [...PROTO_KEYS, 'colour', '', 'x'.repeat(200), 'name; DROP TABLE items; --', 'items"--', "name' OR '1'='1", '$n', '$b', 'hasOwnProperty', 'toString', 'valueOf', 'ID', '\u0000', 'name\u0000'];
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null, true, false, 0, -1, 1.5, -0, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 1e21, 4294967296, -2147483649,
    '', ' ', 'null', "'; DROP TABLE items; --", 'items', 'labs', '_outpost_log', '__proto__', 'constructor', '\u0000', '\ud800', '😀'.repeat(100),
    '999999999999999-ffffffff-hub', '000000000000000-00000000-', '0'.repeat(15) + '-00000000-' + 'n'.repeat(65), formatHlc({ wall: Date.now() + 86_400_000, counter: 0, node: 'n-ahead' }),
    [], {}, [[]], { $n: '1'.repeat(41) }, { $n: '-99999999999999999999' }, { $b: '!!' }, { $b: 'AAAA' }, { $n: '1', $b: 'AA' },
    ID, 'x'.repeat(70_000), 'y'.repeat(5000),
  ),
  fc.constantFrom('@@deep40@@', '@@deep1000@@', '@@deep5000@@'),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
);

type Json = unknown;
/** Paths of every value in a JSON tree. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) out.push(...paths((v as Record<string, Json>)[k], [...at, k]));
  return out;
}

type Mutation = { kind: 'set'; value: unknown } | { kind: 'delete' } | { kind: 'addKey'; key: string; value: unknown } | { kind: 'renameKey'; key: string };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: nastyValue.map((value) => ({ kind: 'set' as const, value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const }) },
  { weight: 2, arbitrary: fc.record({ key: fc.oneof(fc.constantFrom(...NASTY_KEYS), fc.string({ maxLength: 10 })), value: nastyValue }).map((r) => ({ kind: 'addKey' as const, ...r })) },
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom(...NASTY_KEYS), fc.string({ maxLength: 10 })).map((key) => ({ kind: 'renameKey' as const, key })) },
);

/** Apply mutations to a deep copy; keys are set as own properties, so `__proto__` travels as a key. */
function mutate(template: Json, picks: { at: number; m: Mutation }[]): Json {
  let root = structuredClone(template) as Json;
  for (const { at, m } of picks) {
    const all = paths(root);
    const path = all[at % all.length]!;
    if (path.length === 0) {
      if (m.kind === 'set') root = structuredClone(m.value);
      continue;
    }
    const parent = path.slice(0, -1).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k], root) as Record<string | number, Json>;
    const key = path[path.length - 1]!;
    switch (m.kind) {
      case 'set':
        define(parent, key, m.value);
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        break;
      case 'addKey': {
        const target = parent[key];
        if (target && typeof target === 'object' && !Array.isArray(target)) define(target as Record<string, Json>, m.key, m.value);
        else define(parent, key, { [m.key]: m.value });
        break;
      }
      case 'renameKey':
        if (!Array.isArray(parent)) {
          const v = parent[key];
          delete parent[key];
          define(parent, m.key, v);
        }
        break;
    }
  }
  return root;
}

function define(o: Record<string | number, Json>, k: string | number, v: Json): void {
  // A copy: generated constants are shared between runs and must never be mutated.
  Object.defineProperty(o, k, { value: structuredClone(v), enumerable: true, writable: true, configurable: true });
}

/** JSON text, with `"@@deepN@@"` markers expanded into arrays nested N levels deep. */
function encode(v: Json): string {
  return (JSON.stringify(v) ?? 'null').replace(/"@@deep(40|1000|5000)@@"/g, (_, n: string) => deep(Number(n), '[', ']'));
}

interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** a human description for the failure message */
  what: string;
}

function templates(w: World): Record<string, { method: 'POST'; url: string; body: Json }> {
  const now = formatHlc({ wall: Date.now(), counter: 1, node: 'n-000000000000' });
  return {
    join: { method: 'POST', url: '/v1/join', body: { code: 'abcdef-123456-abcdef-123456' } },
    handshake: { method: 'POST', url: '/v1/handshake', body: { protocol: 1, schemaVersion: w.version, clock: now } },
    push: {
      method: 'POST', url: '/v1/push',
      body: {
        from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock: now,
        changes: [
          insert(now),
          { table: 'items', pk: [ID], op: 'U', hlc: now, cols: { name: 'renamed', notes: null }, colHlc: { notes: now } },
          { table: 'items', pk: [ID], op: 'D', hlc: now },
        ],
      },
    },
    pushPages: { method: 'POST', url: '/v1/push', body: { from: 5, to: 9, page: 1, pages: 3, cursor: 0, clock: now, changes: [{ table: 'stock_movements', pk: [ID], op: 'U', hlc: now, cols: { quantity: 2 } }] } },
    sums: { method: 'POST', url: '/v1/verify/sums', body: { table: 'items', buckets: 4, schemaVersion: w.version } },
    rows: { method: 'POST', url: '/v1/verify/rows', body: { table: 'items', buckets: 4, ids: [0, 1, 3] } },
    fetch: { method: 'POST', url: '/v1/verify/fetch', body: { table: 'items', pks: [[ID], ['nope']], after: 0 } },
    resolve: { method: 'POST', url: '/v1/admin/conflicts/1/resolve', body: { set: { name: 'x', quantity: 3 } } },
    resolveTake: { method: 'POST', url: '/v1/admin/conflicts/2/resolve', body: { take: 'hub' } },
    retry: { method: 'POST', url: '/v1/admin/quarantine/1/retry', body: {} },
    discard: { method: 'POST', url: '/v1/admin/quarantine/1/discard', body: {} },
    revoke: { method: 'POST', url: '/v1/admin/nodes/nope/revoke', body: {} },
    revokeProto: { method: 'POST', url: '/v1/admin/nodes/__proto__/revoke', body: {} },
  };
}

const QUERY_WORDS = ['after', 'limit', 'status', 'table', 'pk', '__proto__', 'constructor', 'prototype', '__proto__[x]', 'status[]', 'x'];
const QUERY_VALUES = ['0', '1', '-1', '1e3', '999999999999999999999', 'open', 'auto', 'resolved', 'all', 'items', 'constructor', '__proto__', "items'--", '%00', '%E0%A4%A', '', 'NaN', '0x10', '1.5', 'a'.repeat(300)];
const queryString: fc.Arbitrary<string> = fc.array(fc.tuple(fc.constantFrom(...QUERY_WORDS), fc.constantFrom(...QUERY_VALUES)), { maxLength: 4 })
  .map((kv) => (kv.length ? '?' + kv.map(([k, v]) => `${k}=${v}`).join('&') : ''));

const GET_ROUTES = ['/v1/pull', '/v1/snapshot', '/v1/status', '/v1/admin/conflicts', '/v1/admin/conflicts/1', '/v1/admin/conflicts/0', '/v1/admin/conflicts/-1', '/v1/admin/conflicts/1e3', '/v1/admin/conflicts/99999999999999999999',
  '/v1/admin/quarantine', '/v1/admin/quarantine/1', '/v1/admin/quarantine/constructor', '/v1/admin/audit', '/', '/healthz', '/readyz', '/v1/live', '/v1/push', '/v1/join'];
const UNKNOWN_ROUTES = ['/v1/nothing', '/v1/admin', '/v1/admin/conflicts/1/resolve/x', '/v1/%2e%2e/admin', '/../etc/passwd', '/v1/verify', '/v1/verify/__proto__', '/v1//push', '/V1/PUSH', '/v2/push', '/v1/admin/quarantine/1/explode', '/%ff', '/v1/pull/' + 'x'.repeat(3000)];

function request(w: World): fc.Arbitrary<Req> {
  const tpl = templates(w);
  // The right credential for the route most of the time (so requests get past auth), else another or garbage.
  const authFor = (url: string): fc.Arbitrary<Record<string, string>> => fc.oneof(
    { weight: 8, arbitrary: fc.constant(`Bearer ${url.startsWith('/v1/admin') ? ADMIN : w.token}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${url.startsWith('/v1/admin') ? w.token : ADMIN}`) },
    { weight: 3, arbitrary: fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `bearer ${w.token}`, `Bearer ${w.token}x`, `Bearer ${w.token} extra`, `Bearer ${ADMIN.slice(1)}`, 'Bearer opn_' + 'A'.repeat(43), 'Bearer ' + 'x'.repeat(5000), 'Bearer \u00e9\u00e9') },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`) },
  ).map((a): Record<string, string> => (a ? { authorization: a.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?') } : {}));
  const auth = fc.constantFrom('/v1/push', '/v1/admin').chain(authFor);
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/problem+json', 'application/JSON', '', 'text/csv', 'application/octet-stream', 'application/json; charset=latin1') },
  );
  const encoding = fc.oneof({ weight: 9, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('gzip', 'br', 'deflate', 'GZIP', 'identity', 'gzip, gzip', 'compress') });
  const templateBody = fc.constantFrom(...Object.keys(tpl)).chain((name) => fc.tuple(
    fc.constant(name),
    fc.array(fc.record({ at: fc.nat(), m: mutation }), { minLength: 0, maxLength: 3 }),
  ));
  const post = fc.oneof(
    // a valid message of a route with up to three mutations
    { weight: 10, arbitrary: templateBody.map(([name, picks]) => ({ url: tpl[name]!.url, body: encode(mutate(tpl[name]!.body, picks)), what: `${name} ${JSON.stringify(picks).slice(0, 300)}` })) },
    // random JSON to a random POST route
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...Object.values(tpl).map((x) => x.url)), fc.jsonValue({ maxDepth: 4 })).map(([url, v]) => ({ url, body: JSON.stringify(v) ?? 'null', what: 'random JSON' })) },
    // text that is not JSON, or is only nearly JSON
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...Object.values(tpl).map((x) => x.url)), fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('', '{', '{"a":', '[1,2', 'nul', '{"code":"x"}garbage', '\uFEFF{}', deep(100_000, '[', ']'), deep(20_000, '{"a":', '}'), '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '1e999999', '"\\ud800"', '{"a":1,"a":2}'))).map(([url, body]) => ({ url, body, what: 'not JSON' })) },
  );
  const gzipBody = fc.constantFrom(
    { url: '/v1/push', body: BOMBS.under, what: 'gzip bomb within the limit' },
    { url: '/v1/push', body: BOMBS.over, what: 'gzip bomb over the limit' },
    { url: '/v1/handshake', body: BOMBS.junk, what: 'not gzip' },
    { url: '/v1/verify/fetch', body: BOMBS.truncated, what: 'truncated gzip' },
  );
  return fc.oneof(
    { weight: 12, arbitrary: post.chain((p) => fc.record({ p: fc.constant(p), auth: authFor(p.url), ct: contentType, enc: encoding })).map(({ p, auth, ct, enc }) => ({ method: 'POST' as const, url: p.url, body: p.body, headers: { ...auth, ...(ct ? { 'content-type': ct } : {}), ...(enc ? { 'content-encoding': enc } : {}) }, what: `POST ${p.url} ${p.what} [${ct}${enc ? ' ' + enc : ''}]` })) },
    { weight: 1, arbitrary: fc.record({ g: gzipBody, auth }).map(({ g, auth }) => ({ method: 'POST' as const, url: g.url, body: g.body, headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, what: `POST ${g.url} ${g.what}` })) },
    { weight: 5, arbitrary: fc.constantFrom(...GET_ROUTES).chain((route) => fc.record({ route: fc.constant(route), q: queryString, auth: authFor(route) })).map(({ route, q, auth }) => ({ method: 'GET' as const, url: route + q, headers: auth, what: `GET ${route}${q}` })) },
    { weight: 1, arbitrary: fc.record({ route: fc.constantFrom(...UNKNOWN_ROUTES, ...GET_ROUTES, ...Object.values(tpl).map((x) => x.url)), method: fc.constantFrom('GET' as const, 'POST' as const, 'PUT' as const, 'DELETE' as const, 'PATCH' as const), auth }).map(({ route, method, auth }) => ({ method, url: route, headers: { ...auth, 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}', what: `${method} ${route}` })) },
  );
}

const BOMBS = (() => {
  const clock = formatHlc({ wall: Date.now(), counter: 0, node: 'n-000000000000' });
  const page = (pad: number): string => JSON.stringify({ from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock, changes: [{ ...insert(clock), cols: { ...(insert(clock).cols as object), notes: ' '.repeat(pad) } }] });
  const under = gzipSync(page(LIMIT - 2000));
  return { under, over: gzipSync(page(8 * 1024 * 1024)), junk: Buffer.from('definitely not gzip'), truncated: under.subarray(0, Math.floor(under.length / 2)) };
})();

// ---- the property ----------------------------------------------------------

test(`fuzz: ${RUNS} random and malformed requests on every route: no 5xx, every refusal a known problem, nothing changed`, async (t) => {
  const w = await world(t);
  const reader = new Database(w.dbPath, { readonly: true });
  t.after(() => reader.close());
  const before = fingerprint(reader);
  const started = Date.now();
  const tally = new Map<string, number>();
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(request(w), async (r) => {
      const res = await w.app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.body !== undefined ? { payload: r.body } : {}) });
      sent++;
      const key = `${res.statusCode} ${res.statusCode >= 400 ? (JSON.parse(res.body) as { code: string }).code : ''}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      const wrong = judge(res);
      assert.equal(wrong, null, `${r.what}: ${wrong}`);
      // Checked after each request, so that a failure names the request that changed something.
      assert.equal(fingerprint(reader), before, `${r.what} changed the hub's database`);
    }),
    { numRuns: RUNS, seed: process.env.OUTPOST_FUZZ_SEED ? Number(process.env.OUTPOST_FUZZ_SEED) : undefined, endOnFailure: true },
  );
  const secs = (Date.now() - started) / 1000;
  t.diagnostic(`${sent} requests in ${secs.toFixed(1)} s; answers: ${[...tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k.trim()} ×${n}`).join(', ')}`);
  assert.ok(sent >= RUNS, `sent ${sent}`);
  // Every kind of answer was reached: the fuzzer is not stuck on one refusal.
  for (const code of ['200 ', '400 VALIDATION_FAILED', '400 INVALID_JSON', '401 UNAUTHORIZED', '401 ADMIN_UNAUTHORIZED', '404 NOT_FOUND', '413 BODY_TOO_LARGE', '415 UNSUPPORTED_MEDIA_TYPE', '400 UNKNOWN_COLUMN', '400 BAD_VALUE']) {
    assert.ok((tally.get(code) ?? 0) > 0, `no request was answered ${code}`);
  }
});
