import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import * as messages from '../../src/protocol/messages.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';

/**
 * The wire is held to its version: change any message schema and this test
 * fails until PROTOCOL_VERSION is bumped and the hash below recorded for it.
 */
const KNOWN: Record<number, string> = {
  // v1 is unreleased: it gained optional column.autoIncrement, handshake keyRange and change.restate (2026-11-22),
  // and handshake purgedThrough/purgedHlc (purge with a retention horizon) and the verify messages (verifySums/Rows/Fetch; issue 5), before any release
  // and issue 6 (unreleased still): table policies manual/custom, columnPolicies and onDelete, change.deltas (counters), push quarantined
  // and issue 7 (unreleased still): rotateRequestSchema (POST /v1/rotate)
  // and issue 8 (unreleased still): the live WebSocket messages (liveHello, livePoke, liveServerMessage, liveClientMessage),
  // then pages in pokes (livePage, livePoke.page) and the node's ack
  1: '974be014b47bc7bd',
};

test('the protocol version changes whenever a message schema does', () => {
  const schemas = Object.entries(messages)
    .filter(([name, v]) => name.endsWith('Schema') && v instanceof z.ZodType)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, v]) => [name, z.toJSONSchema(v as z.ZodType, { unrepresentable: 'any', io: 'input' })]);
  assert.ok(schemas.length >= 10, `hashed ${schemas.length} schemas`);
  const hash = createHash('sha256').update(JSON.stringify(schemas)).digest('hex').slice(0, 16);
  assert.equal(hash, KNOWN[PROTOCOL_VERSION], `the message schemas hash to ${hash}; if the wire changed on purpose, bump PROTOCOL_VERSION and record the hash in KNOWN`);
});
