import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
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
 * Every defect the hostile-input fuzzer (fuzz-hostile.test.ts) found, kept
 * as a fixed case: each request must be answered by a 4xx problem with the
 * code named here.
 */
const ADMIN = 'admin-token-for-regressions-0123';

async function hub(t: Parameters<typeof tempDir>[0]): Promise<{ app: FastifyInstance; token: string; clock: string }> {
  const dir = tempDir(t);
  const db = new SqliteAdapter(oimsDatabase(join(dir, 'hub.db')));
  const h = await Hub.open(db, parseHubConfig({ ...loadHubConfig(OIMS_CONFIG), limits: { bodyBytes: 64 * 1024, pullPage: 100 } }));
  const app = await buildServer(h, { adminToken: ADMIN });
  t.after(async () => {
    await app.close();
    await db.close();
  });
  const { code } = await addNode(h.db, 'lab');
  const { token, nodeId } = (await app.inject({ method: 'POST', url: '/v1/join', payload: { code } })).json() as { token: string; nodeId: string };
  return { app, token, clock: formatHlc({ wall: Date.now(), counter: 0, node: nodeId }) };
}

type Case = [name: string, req: { method: 'GET' | 'POST'; url: string; body?: string; auth?: 'node' | 'admin'; headers?: Record<string, string> }, status: number, code: string];

async function check(app: FastifyInstance, token: string, cases: Case[]): Promise<void> {
  for (const [name, r, status, code] of cases) {
    const auth = r.auth === 'node' ? { authorization: `Bearer ${token}` } : r.auth === 'admin' ? { authorization: `Bearer ${ADMIN}` } : {};
    const res = await app.inject({ method: r.method, url: r.url, headers: { 'content-type': 'application/json', ...auth, ...r.headers }, ...(r.body !== undefined ? { payload: r.body } : {}) });
    assert.equal(judge(res), null, `${name}: ${judge(res)}`);
    assert.equal(res.statusCode, status, `${name}: ${res.body}`);
    assert.equal((res.json() as { code: string }).code, code, `${name}: ${res.body}`);
  }
}

test('a URL that is not valid percent-encoding is a BAD_REQUEST problem (was Fastify\'s own JSON error)', async (t) => {
  const { app, token } = await hub(t);
  await check(app, token, [
    ['bad escape, unknown route', { method: 'POST', url: '/%ff', body: '{}' }, 400, 'BAD_REQUEST'],
    ['bad escape under a route', { method: 'GET', url: '/v1/pull/%E0%A4%A', auth: 'node' }, 400, 'BAD_REQUEST'],
  ]);
});

test('prototype keys (__proto__, constructor, prototype) are refused wherever a record key comes from a request', async (t) => {
  const { app, token, clock } = await hub(t);
  const id = '00000000-0000-4000-8000-000000000001';
  const push = (change: string): string => `{"from":0,"to":1,"page":0,"pages":1,"cursor":0,"clock":"${clock}","changes":[${change}]}`;
  const upd = (extra: string): string => `{"table":"items","pk":["${id}"],"op":"U","hlc":"${clock}",${extra}}`;
  const cases: Case[] = [];
  for (const k of ['__proto__', 'constructor', 'prototype']) {
    const code = k === '__proto__' ? 'INVALID_JSON' : 'VALIDATION_FAILED'; // Fastify's parser refuses __proto__ before any code of ours
    cases.push(
      [`${k} in cols`, { method: 'POST', url: '/v1/push', auth: 'node', body: push(upd(`"cols":{"${k}":"x"}`)) }, 400, code],
      [`${k} in colHlc`, { method: 'POST', url: '/v1/push', auth: 'node', body: push(upd(`"cols":{"name":"x"},"colHlc":{"${k}":"${clock}"}`)) }, 400, code],
      [`${k} in deltas`, { method: 'POST', url: '/v1/push', auth: 'node', body: push(upd(`"deltas":{"${k}":1}`)) }, 400, code],
      [`${k} as a query parameter of pull`, { method: 'GET', url: `/v1/pull?${k}=1`, auth: 'node' }, 400, 'BAD_REQUEST'],
      [`${k}[status] as a query parameter of the admin API`, { method: 'GET', url: `/v1/admin/quarantine?${k}[status]=open`, auth: 'admin' }, 400, 'BAD_REQUEST'],
      [`${k} as a query parameter of the conflict list`, { method: 'GET', url: `/v1/admin/conflicts?${k}=open`, auth: 'admin' }, 400, 'BAD_REQUEST'],
    );
  }
  await check(app, token, cases);
});
