import { OutpostError, PROTOCOL_VERSION, type JoinResponse, type KeyRange } from '../protocol/index.ts';
import type { Adapter, NodeRecord, Tx } from '../adapters/adapter.ts';
import { hashSecret, newEnrollmentCode, newNodeId, newNodeToken } from './credentials.ts';

/**
 * Node enrollment on the hub's database: one-time codes, credentials (only
 * their hashes are stored), revocation, and checking a request's credential.
 */

export const DEFAULT_KEY_RANGE_SIZE = 1_000_000;

/** The generated-key range a node was given at enrollment. */
export async function keyRangeOf(tx: Tx, nodeId: string): Promise<KeyRange | undefined> {
  const v = await tx.getState(`key_range:${nodeId}`);
  return v ? (JSON.parse(v) as KeyRange) : undefined;
}

/** Enroll a node: returns its id and the one-time code. */
export async function addNode(db: Adapter, name: string, now: number = Date.now()): Promise<{ id: string; code: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new OutpostError('BAD_REQUEST', `node name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-' (at most 64)`);
  }
  await db.installBookkeeping('hub');
  const code = newEnrollmentCode();
  const id = newNodeId();
  await db.write(async (tx) => {
    if (await tx.nodeByName(name)) throw new OutpostError('NODE_EXISTS', `a node named ${name} exists already`);
    await tx.createNode({ id, name, codeHash: hashSecret(code), createdAt: now });
    // Its own range of generated integer keys: node n gets n·size+1 … (n+1)·size.
    const size = Number((await tx.getState('key_range_size')) ?? DEFAULT_KEY_RANGE_SIZE);
    const n = Number((await tx.getState('key_ranges_given')) ?? 0) + 1;
    await tx.setState('key_ranges_given', String(n));
    await tx.setState(`key_range:${id}`, JSON.stringify({ lo: n * size + 1, hi: (n + 1) * size }));
  });
  return { id, code };
}

/** Revoke a node: its credential stops working at its next request. */
export async function revokeNode(db: Adapter, name: string, now: number = Date.now()): Promise<void> {
  await db.installBookkeeping('hub');
  await db.write(async (tx) => {
    const n = await tx.nodeByName(name);
    if (!n) throw new OutpostError('NOT_FOUND', `no node named ${name}`);
    await tx.updateNode(n.id, { revokedAt: now });
  });
}

/** Trade a one-time code for the node's own credential; the code cannot be used again. */
export async function redeemCode(db: Adapter, code: string, now: number = Date.now()): Promise<JoinResponse> {
  const token = newNodeToken();
  const node = await db.write(async (tx) => {
    const n = await tx.nodeByCodeHash(hashSecret(code));
    if (!n) throw new OutpostError('ENROLLMENT_CODE_INVALID', 'the enrollment code is unknown or was already used');
    await tx.setNodeToken(n.id, hashSecret(token), now);
    return n;
  });
  return { nodeId: node.id, nodeName: node.name, token, protocol: PROTOCOL_VERSION };
}

/** The node a credential belongs to, or UNAUTHORIZED. */
export async function authenticate(db: Adapter, token: string | undefined): Promise<NodeRecord> {
  if (!token) throw new OutpostError('UNAUTHORIZED', 'this request needs a node credential (Authorization: Bearer …)');
  const node = await db.read((tx) => tx.nodeByTokenHash(hashSecret(token)));
  if (!node) throw new OutpostError('UNAUTHORIZED', 'the node credential is unknown or revoked');
  return node;
}
