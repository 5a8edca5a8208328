import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { tempDir, startHub, type RunningHub } from '../helpers/fixtures.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { verifyFetchResponseSchema, verifyRowsResponseSchema, verifySumsResponseSchema } from '../../src/protocol/index.ts';

/** What a verify request could have changed on the hub: synced rows and bookkeeping. */
function fingerprint(hub: RunningHub): string {
  const db = new Database(hub.dbPath, { readonly: true });
  try {
    return ['labs', 'categories', 'items', '_outpost_log', '_outpost_rows', '_outpost_conflicts'].map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t} ORDER BY 1`).all())).join('\n');
  } finally {
    db.close();
  }
}

async function expectProblem(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = JSON.parse(text) as { code: string; detail: string };
  assert.equal(body.code, code, text);
  assert.ok(body.detail);
}

test('verify endpoints: bad input and unknown or up tables get 4xx problem+json and change nothing', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const { code } = await addNode(hub.hub.db, 'tester');
  const { token } = await new HubClient(hub.url).join(code);
  const version = hub.hub.catalogue.version;
  const post = (path: string, body: unknown, auth = `Bearer ${token}`): Promise<Response> =>
    fetch(`${hub.url}/v1/verify/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify(body) });
  const before = fingerprint(hub);

  const cases: [string, () => Promise<Response>, number, string][] = [
    ['no credential', () => post('sums', { table: 'labs', buckets: 4, schemaVersion: version }, ''), 401, 'UNAUTHORIZED'],
    ['unknown table', () => post('sums', { table: 'gadgets', buckets: 4, schemaVersion: version }), 400, 'UNKNOWN_TABLE'],
    ['SQL in a table name', () => post('rows', { table: 'labs; DROP TABLE labs', buckets: 4, ids: [0] }), 400, 'UNKNOWN_TABLE'],
    ['a bookkeeping table', () => post('fetch', { table: '_outpost_state', pks: [['token']], after: 0 }), 400, 'UNKNOWN_TABLE'],
    ['an up table', () => post('fetch', { table: 'stock_movements', pks: [['m1']], after: 0 }), 403, 'TABLE_NOT_SENT'],
    ['an up table, sums', () => post('sums', { table: 'stock_movements', buckets: 4, schemaVersion: version }), 403, 'TABLE_NOT_SENT'],
    ['zero buckets', () => post('sums', { table: 'labs', buckets: 0, schemaVersion: version }), 400, 'VALIDATION_FAILED'],
    ['too many buckets', () => post('sums', { table: 'labs', buckets: 4097, schemaVersion: version }), 400, 'VALIDATION_FAILED'],
    ['extra fields', () => post('sums', { table: 'labs', buckets: 4, schemaVersion: version, all: true }), 400, 'VALIDATION_FAILED'],
    ['another schema version', () => post('sums', { table: 'labs', buckets: 4, schemaVersion: 'not-this-one' }), 409, 'SCHEMA_MISMATCH'],
    ['a bucket id out of range', () => post('rows', { table: 'labs', buckets: 4, ids: [4] }), 400, 'VALIDATION_FAILED'],
    ['no bucket ids', () => post('rows', { table: 'labs', buckets: 4, ids: [] }), 400, 'VALIDATION_FAILED'],
    ['a key of the wrong length', () => post('fetch', { table: 'labs', pks: [['lab-a', 'x']], after: 0 }), 400, 'BAD_KEY'],
    ['too many keys', () => post('fetch', { table: 'labs', pks: Array.from({ length: 1001 }, (_, i) => [`k${i}`]), after: 0 }), 400, 'VALIDATION_FAILED'],
    ['a negative cursor', () => post('fetch', { table: 'labs', pks: [['lab-a']], after: -1 }), 400, 'VALIDATION_FAILED'],
    ['not JSON', () => fetch(`${hub.url}/v1/verify/sums`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"table":' }), 400, 'INVALID_JSON'],
  ];
  for (const [name, send, status, code] of cases) {
    await t.test(name, async () => {
      await expectProblem(await send(), status, code);
      assert.equal(fingerprint(hub), before, `${name} changed nothing`);
    });
  }

  // Well-formed requests are answered, with replies that match their schemas.
  const sums = verifySumsResponseSchema.parse(await (await post('sums', { table: 'labs', buckets: 4, schemaVersion: version })).json());
  assert.deepEqual([sums.rows, sums.sums.length, sums.sums.reduce((a, [n]) => a + n, 0)], [3, 4, 3]);
  const rows = verifyRowsResponseSchema.parse(await (await post('rows', { table: 'labs', buckets: 1, ids: [0] })).json());
  assert.deepEqual(rows.rows.map((r) => r.pk[0]).sort(), ['lab-a', 'lab-b', 'lab-c']);
  const fetched = verifyFetchResponseSchema.parse(await (await post('fetch', { table: 'labs', pks: [['lab-a'], ['nowhere']], after: 0 })).json());
  assert.deepEqual(fetched.rows.map((r) => [r.pk[0], r.values?.name ?? null, r.hlc !== null]), [['lab-a', 'Chemistry Lab A', true], ['nowhere', null, false]]);
  assert.equal(fingerprint(hub), before, 'verify reads only');
});
