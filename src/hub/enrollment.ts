import { OutpostError, PROTOCOL_VERSION, type JoinResponse, type KeyRange } from '../protocol/index.ts';
import type { Adapter, NodeRecord, Tx } from '../adapters/adapter.ts';
import { hashSecret, newEnrollmentCode, newNodeId, newNodeToken } from './credentials.ts';
import { checkAttrs, type NodeAttrs } from './scopes.ts';
import { bumpNodeScope, nodeAttrs, writeNodeAttrs } from './scope-log.ts';

/**
 * Node enrollment on the hub's database: one-time codes that expire,
 * credentials (only their hashes are stored), rotation, revocation, and
 * checking a request's credential. Every change is audited
 * (docs/security.md); no code or token ever goes into the audit.
 */

export const DEFAULT_KEY_RANGE_SIZE = 1_000_000;
/** How long a one-time code works unless `--expires-in` says otherwise: 24 hours. */
export const DEFAULT_CODE_TTL_MS = 24 * 60 * 60 * 1000;

/** The generated-key range a node was given at enrollment. */
export async function keyRangeOf(tx: Tx, nodeId: string): Promise<KeyRange | undefined> {
  const v = await tx.getState(`key_range:${nodeId}`);
  return v ? (JSON.parse(v) as KeyRange) : undefined;
}

export interface CodeOptions {
  /** how long the code works (ms); null: no expiry; default DEFAULT_CODE_TTL_MS */
  ttlMs?: number | null;
  /** who asked, for the audit trail (`cli:<user>`, an admin's name) */
  actor?: string;
  /** the node's attributes, which scopes name as `$node.NAME` (addNode only; a reissued code keeps the earlier ones unless given) */
  attrs?: Record<string, string>;
}

export interface IssuedCode {
  id: string;
  code: string;
  /** when the code stops working (ms), or null */
  expiresAt: number | null;
  /** a node of that name existed and had never joined: its earlier code no longer works */
  reissued: boolean;
}

const expiry = (now: number, ttlMs: number | null | undefined): number | null => {
  const ttl = ttlMs === undefined ? DEFAULT_CODE_TTL_MS : ttlMs;
  if (ttl !== null && (!Number.isFinite(ttl) || ttl <= 0)) throw new OutpostError('BAD_REQUEST', 'a code must stay valid for a positive duration');
  return ttl === null ? null : now + ttl;
};

/**
 * Enroll a node: returns its id and the one-time code (valid for `ttlMs`,
 * default 24 h). Adding a name again whose node never joined issues a new
 * code for it (same id and key range) and kills the earlier code; a node that
 * joined, or was revoked, is NODE_EXISTS.
 */
export async function addNode(db: Adapter, name: string, now: number = Date.now(), opts: CodeOptions = {}): Promise<IssuedCode> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new OutpostError('BAD_REQUEST', `node name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-' (at most 64)`);
  }
  const expiresAt = expiry(now, opts.ttlMs);
  const attrs = opts.attrs ? checkAttrs(opts.attrs) : undefined;
  await db.installBookkeeping('hub');
  const code = newEnrollmentCode();
  return db.write(async (tx) => {
    const existing = await tx.nodeByName(name);
    if (existing) {
      if (existing.joinedAt !== null || existing.revokedAt !== null) throw new OutpostError('NODE_EXISTS', `a node named ${name} exists already`);
      if (attrs) await writeNodeAttrs(tx, existing.id, attrs);
      await tx.setNodeCode(existing.id, hashSecret(code), expiresAt);
      await tx.addAudit({ actor: opts.actor ?? 'system', action: 'node.code', target: `node:${name}`, detail: JSON.stringify({ id: existing.id, expiresAt: iso(expiresAt), reason: 'reissued' }) }, now);
      return { id: existing.id, code, expiresAt, reissued: true };
    }
    const id = newNodeId();
    await tx.createNode({ id, name, codeHash: hashSecret(code), createdAt: now, codeExpiresAt: expiresAt });
    // Its own range of generated integer keys: node n gets n·size+1 … (n+1)·size.
    const size = Number((await tx.getState('key_range_size')) ?? DEFAULT_KEY_RANGE_SIZE);
    const n = Number((await tx.getState('key_ranges_given')) ?? 0) + 1;
    await tx.setState('key_ranges_given', String(n));
    await tx.setState(`key_range:${id}`, JSON.stringify({ lo: n * size + 1, hi: (n + 1) * size }));
    if (attrs) await writeNodeAttrs(tx, id, attrs);
    await tx.addAudit({ actor: opts.actor ?? 'system', action: 'node.add', target: `node:${name}`, detail: JSON.stringify({ id, expiresAt: iso(expiresAt), attrs: attrs ?? {} }) }, now);
    return { id, code, expiresAt, reissued: false };
  });
}

/**
 * Re-key a node from the hub (`outpost node rotate NAME`): a new one-time
 * code, and the node's current credential stops working at once (for a
 * credential that may have leaked, or a node that lost its reply to
 * `POST /v1/join`). The node redeems the code with `outpost rotate --code`.
 */
export async function rekeyNode(db: Adapter, name: string, now: number = Date.now(), opts: CodeOptions = {}): Promise<IssuedCode> {
  const expiresAt = expiry(now, opts.ttlMs);
  await db.installBookkeeping('hub');
  const code = newEnrollmentCode();
  return db.write(async (tx) => {
    const n = await tx.nodeByName(name);
    if (!n) throw new OutpostError('NOT_FOUND', `no node named ${name}`);
    if (n.revokedAt !== null) throw new OutpostError('BAD_REQUEST', `node ${name} is revoked; enroll a new node instead`);
    await tx.setNodeCode(n.id, hashSecret(code), expiresAt);
    await tx.addAudit({ actor: opts.actor ?? 'system', action: 'node.rekey', target: `node:${name}`, detail: JSON.stringify({ id: n.id, expiresAt: iso(expiresAt) }) }, now);
    return { id: n.id, code, expiresAt, reissued: n.joinedAt === null };
  });
}

/**
 * Set a node's attributes (`outpost node attrs NAME k=v …`; an empty value
 * removes one). Its scopes change with them, so a node that pulled before
 * takes a fresh snapshot of its scope at its next sync (its rows outside the
 * new scope go, those inside arrive). Audited as `node.attrs`.
 */
export async function setNodeAttrs(db: Adapter, name: string, changes: Record<string, string>, now: number = Date.now(), opts: { actor?: string } = {}): Promise<NodeAttrs> {
  checkAttrs(changes);
  await db.installBookkeeping('hub');
  return db.write(async (tx) => {
    const n = await tx.nodeByName(name);
    if (!n) throw new OutpostError('NOT_FOUND', `no node named ${name}`);
    const next: Record<string, string> = { ...(await nodeAttrs(tx, n.id)) };
    for (const [k, v] of Object.entries(changes)) {
      if (v === '') delete next[k];
      else next[k] = v;
    }
    await writeNodeAttrs(tx, n.id, next);
    await bumpNodeScope(tx, n.id);
    await tx.addAudit({ actor: opts.actor ?? 'system', action: 'node.attrs', target: `node:${name}`, detail: JSON.stringify({ id: n.id, attrs: next }) }, now);
    return next;
  });
}

/** Revoke a node: its credential (and any outstanding code) stops working at its next request. */
export async function revokeNode(db: Adapter, name: string, now: number = Date.now(), opts: { actor?: string } = {}): Promise<{ id: string }> {
  await db.installBookkeeping('hub');
  return db.write(async (tx) => {
    const n = await tx.nodeByName(name);
    if (!n) throw new OutpostError('NOT_FOUND', `no node named ${name}`);
    await tx.updateNode(n.id, { revokedAt: now });
    await tx.addAudit({ actor: opts.actor ?? 'system', action: 'node.revoke', target: `node:${name}`, detail: JSON.stringify({ id: n.id }) }, now);
    return { id: n.id };
  });
}

/**
 * Trade a one-time code for the node's own credential; the code cannot be
 * used again. An expired code is ENROLLMENT_CODE_INVALID (saying that it
 * expired; the code itself is never echoed). `address` is the client's, for
 * the audit trail.
 */
export async function redeemCode(db: Adapter, code: string, now: number = Date.now(), address?: string, expectNodeId?: string): Promise<JoinResponse> {
  const token = newNodeToken();
  const node = await db.write(async (tx) => {
    const n = await tx.nodeByCodeHash(hashSecret(code));
    // A re-key code redeemed by a node (`outpost rotate --code`) must be its own; a mismatch leaves the code unused.
    if (!n || (expectNodeId !== undefined && n.id !== expectNodeId)) throw new OutpostError('ENROLLMENT_CODE_INVALID', 'the enrollment code is unknown or was already used');
    if (n.codeExpiresAt !== null && now >= n.codeExpiresAt) {
      throw new OutpostError('ENROLLMENT_CODE_INVALID', `the enrollment code expired at ${iso(n.codeExpiresAt)}; ask for a new one (outpost node add ${n.name}, or outpost node rotate ${n.name} for a node that joined)`);
    }
    await tx.setNodeToken(n.id, hashSecret(token), now);
    await tx.addAudit({ actor: `node:${n.name}`, action: n.joinedAt === null ? 'node.join' : 'node.rekeyed', target: `node:${n.name}`, detail: JSON.stringify({ id: n.id, address: address ?? null }) }, now);
    return n;
  });
  return { nodeId: node.id, nodeName: node.name, token, protocol: PROTOCOL_VERSION };
}

/**
 * Node-initiated rotation (`POST /v1/rotate`, `outpost rotate`): a new
 * credential for the node that sent `token`. The hub keeps the hash of the
 * token the node used as its previous one, which keeps working until the node
 * makes its first request with the new token (`authenticate` then drops it):
 * a reply lost on the way back never locks the node out (it goes on with the
 * old token, and may rotate again). A rotation with the previous token while
 * one is pending replaces the unconfirmed new token.
 */
export async function rotateToken(db: Adapter, token: string | undefined, now: number = Date.now(), address?: string): Promise<{ nodeId: string; nodeName: string; token: string }> {
  if (!token) throw new OutpostError('UNAUTHORIZED', 'this request needs a node credential (Authorization: Bearer …)');
  const fresh = newNodeToken();
  const h = hashSecret(token);
  const node = await db.write(async (tx) => {
    const n = (await tx.nodeByTokenHash(h)) ?? (await tx.nodeByPrevTokenHash(h));
    if (!n) throw new OutpostError('UNAUTHORIZED', 'the node credential is unknown or revoked');
    await tx.rotateNodeToken(n.id, hashSecret(fresh), h);
    await tx.addAudit({ actor: `node:${n.name}`, action: 'node.rotate', target: `node:${n.name}`, detail: JSON.stringify({ id: n.id, address: address ?? null, replacedPending: n.rotating }) }, now);
    return n;
  });
  return { nodeId: node.id, nodeName: node.name, token: fresh };
}

/**
 * The node a credential belongs to, or UNAUTHORIZED. The first request with
 * a rotated token confirms the rotation (the previous token stops working);
 * the previous token is accepted until then.
 */
export async function authenticate(db: Adapter, token: string | undefined): Promise<NodeRecord> {
  if (!token) throw new OutpostError('UNAUTHORIZED', 'this request needs a node credential (Authorization: Bearer …)');
  const h = hashSecret(token);
  const node = await db.read(async (tx) => (await tx.nodeByTokenHash(h)) ?? (await tx.nodeByPrevTokenHash(h)));
  if (!node) {
    const session = token.startsWith('ops_') ? ' (an admin session is not a node credential)' : '';
    throw new OutpostError('UNAUTHORIZED', `the node credential is unknown or revoked${session}`);
  }
  if (node.rotating) {
    // Confirm in a write transaction, and only if this is still the new token (a concurrent rotation may have replaced it).
    const confirmed = await db.write(async (tx) => {
      const cur = await tx.nodeByTokenHash(h);
      if (cur?.id === node.id && cur.rotating) {
        await tx.confirmNodeToken(node.id);
        return true;
      }
      return false;
    });
    if (confirmed) return { ...node, rotating: false };
  }
  return node;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
