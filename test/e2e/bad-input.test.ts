import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { tempDir, startHub, type RunningHub } from '../helpers/fixtures.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { addNode, revokeNode } from '../../src/hub/enrollment.ts';

const ID = '00000000-0000-4000-8000-000000000001';

/** Everything a request could have changed: synced rows and the hub's bookkeeping. */
function fingerprint(hub: RunningHub): string {
  const db = new Database(hub.dbPath, { readonly: true });
  try {
    const parts = ['labs', 'categories', 'items', 'stock_movements', '_outpost_log', '_outpost_rows', '_outpost_conflicts', '_outpost_staging'].map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t} ORDER BY 1`).all()));
    parts.push(JSON.stringify(db.prepare('SELECT id, acked_seq FROM _outpost_nodes ORDER BY 1').all()));
    return parts.join('\n');
  } finally {
    db.close();
  }
}

async function setup(t: Parameters<typeof tempDir>[0]): Promise<{ hub: RunningHub; token: string; clock: string }> {
  const dir = tempDir(t);
  const hub = await startHub(dir, { config: { limits: { bodyBytes: 64 * 1024, pullPage: 2000 } } });
  t.after(() => hub.close());
  const { code } = await addNode(hub.hub.db, 'tester');
  const { token } = await new HubClient(hub.url).join(code);
  const hs = await new HubClient(hub.url, token).handshake({ protocol: 1, schemaVersion: null });
  return { hub, token, clock: hs.clock };
}

function item(clock: string, cols: Record<string, unknown> = {}, pk: unknown[] = [ID]): Record<string, unknown> {
  return { table: 'items', pk, op: 'I', hlc: clock, cols: { id: ID, lab_id: 'lab-a', name: 'flask', quantity: 1, status: 'active', updated_at: '2026-01-01T00:00:00Z', ...cols } };
}

async function expectProblem(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = JSON.parse(text) as { code: string; status: number; title: string; detail: string; type: string };
  assert.equal(body.code, code, text);
  assert.equal(body.status, status);
  assert.ok(body.title && body.detail && body.type, 'a problem has type, title and detail');
}

test('bad input gets a 4xx problem+json with a stable code and changes no row', async (t) => {
  const { hub, token, clock } = await setup(t);
  const post = (body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${hub.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: body as unknown as BodyInit });
  const push = (changes: unknown[], extra: Record<string, unknown> = {}): Promise<Response> => post(JSON.stringify({ from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock, changes, ...extra }));
  const before = fingerprint(hub);

  const cases: [string, () => Promise<Response>, number, string][] = [
    ['malformed JSON', () => post('{"from": 0, "to": '), 400, 'INVALID_JSON'],
    ['not JSON at all', () => post('hello', { 'content-type': 'text/csv' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['missing fields', () => post(JSON.stringify({ changes: [] })), 400, 'VALIDATION_FAILED'],
    ['extra fields', () => push([], { admin: true }), 400, 'VALIDATION_FAILED'],
    ['unknown table', () => push([{ ...item(clock), table: 'gadgets' }]), 400, 'UNKNOWN_TABLE'],
    ['SQL in a table name', () => push([{ ...item(clock), table: 'items; DROP TABLE items' }]), 400, 'UNKNOWN_TABLE'],
    ['unknown column', () => push([item(clock, { colour: 'red' })]), 400, 'UNKNOWN_COLUMN'],
    ['prototype key as column', () => post(`{"from":0,"to":1,"page":0,"pages":1,"clock":"${clock}","changes":[{"table":"items","pk":["${ID}"],"op":"U","hlc":"${clock}","cols":{"__proto__":{"x":1}}}]}`), 400, 'INVALID_JSON'],
    ['text into an integer', () => push([item(clock, { quantity: 'lots' })]), 400, 'BAD_VALUE'],
    ['fraction into an integer', () => push([item(clock, { quantity: 1.5 })]), 400, 'BAD_VALUE'],
    ['number into text', () => push([item(clock, { name: 42 })]), 400, 'BAD_VALUE'],
    ['NULL into NOT NULL', () => push([item(clock, { name: null })]), 400, 'BAD_VALUE'],
    ['insert missing a NOT NULL column', () => push([{ ...item(clock), cols: { id: ID, lab_id: 'lab-a' } }]), 400, 'BAD_VALUE'],
    ['key with two values for a one-column key', () => push([item(clock, {}, [ID, 'extra'])]), 400, 'BAD_KEY'],
    ['key of the wrong type', () => push([item(clock, { id: 5 }, [5])]), 400, 'BAD_KEY'],
    ['key that disagrees with its column', () => push([item(clock, { id: '00000000-0000-4000-8000-000000000002' })]), 400, 'BAD_KEY'],
    ['a bad stamp', () => push([{ ...item(clock), hlc: 'yesterday' }]), 400, 'VALIDATION_FAILED'],
    ['a good change next to a bad one', () => push([item(clock), item(clock, { id: '00000000-0000-4000-8000-000000000003', quantity: 'x' }, ['00000000-0000-4000-8000-000000000003'])]), 400, 'BAD_VALUE'],
    ['oversized body', () => push([item(clock, { notes: 'x'.repeat(100_000) })]), 413, 'BODY_TOO_LARGE'],
    ['gzip bomb', () => post(gzipSync(JSON.stringify({ from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock, changes: [item(clock, { notes: ' '.repeat(5_000_000) })] })), { 'content-encoding': 'gzip' }), 413, 'BODY_TOO_LARGE'],
    ['corrupt gzip', () => post(Buffer.from('this is not gzip at all'), { 'content-encoding': 'gzip' }), 400, 'INVALID_JSON'],
    ['unknown encoding', () => post('{}', { 'content-encoding': 'br' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['pull with a bad cursor', () => fetch(`${hub.url}/v1/pull?after=-1`, { headers: { authorization: `Bearer ${token}` } }), 400, 'BAD_REQUEST'],
    ['unknown route', () => fetch(`${hub.url}/v1/nothing`), 404, 'NOT_FOUND'],
  ];
  for (const [name, send, status, code] of cases) {
    await t.test(name, async () => {
      await expectProblem(await send(), status, code);
      assert.equal(fingerprint(hub), before, `${name} changed nothing`);
    });
  }

  // The same well-formed change is accepted, so the refusals above were about the input.
  const ok = await push([item(clock)]);
  assert.equal(ok.status, 200, await ok.text());
  assert.notEqual(fingerprint(hub), before);
});

test('credentials: a reused code, no, an unknown or a revoked credential get 401 problem+json', async (t) => {
  const dir = tempDir(t);
  const hub = await startHub(dir);
  t.after(() => hub.close());
  const { code } = await addNode(hub.hub.db, 'lab-a');
  const join = (c: string): Promise<Response> => fetch(`${hub.url}/v1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: c }) });
  const first = await join(code);
  assert.equal(first.status, 200);
  const { token } = (await first.json()) as { token: string };
  await expectProblem(await join(code), 401, 'ENROLLMENT_CODE_INVALID');
  await expectProblem(await join('000000-000000-000000-000000'), 401, 'ENROLLMENT_CODE_INVALID');

  const pull = (auth?: string): Promise<Response> => fetch(`${hub.url}/v1/pull?after=0`, { headers: auth ? { authorization: auth } : {} });
  assert.equal((await pull(`Bearer ${token}`)).status, 200);
  await expectProblem(await pull(), 401, 'UNAUTHORIZED');
  await expectProblem(await pull('Bearer opn_not-a-real-token'), 401, 'UNAUTHORIZED');
  await expectProblem(await pull(`Basic ${token}`), 401, 'UNAUTHORIZED');
  await revokeNode(hub.hub.db, 'lab-a');
  await expectProblem(await pull(`Bearer ${token}`), 401, 'UNAUTHORIZED');
});
