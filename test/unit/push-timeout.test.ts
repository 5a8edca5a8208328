import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { HubClient } from '../../src/node/hub-client.ts';
import type { PushRequest } from '../../src/protocol/index.ts';

const REPLY = { ack: 1, duplicate: false, staged: false, applied: 0, conflicts: 0, clock: '0001765000000000-00000000-hub' };

test("a group's last push page waits longer for the hub the larger the group; other pages keep the request timeout", async (t) => {
  // The fake hub answers every push after 600 ms.
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(REPLY)), 600));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const client = new HubClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'token', { timeoutMs: 200 });
  const page = (page: number, pages: number): PushRequest => ({ from: 0, to: 1, page, pages, cursor: 0, clock: REPLY.clock, changes: [] });
  // The last page of a 1,000-change group: 200 ms + 1,000 x 1 ms.
  assert.deepEqual(await client.push(page(1, 2), undefined, 1000), REPLY);
  // A page before the last one is staged at once by a live hub: 200 ms.
  await assert.rejects(client.push(page(0, 2), undefined, 1000), (e: Error & { code?: string }) => e.code === 'HUB_UNREACHABLE' && /within 0.2 s/.test(e.message));
  // A one-page group of no changes gets the request timeout alone.
  await assert.rejects(client.push(page(0, 1)), (e: Error & { code?: string }) => e.code === 'HUB_UNREACHABLE');
});
