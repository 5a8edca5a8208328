import type { FastifyInstance } from 'fastify';
import { OutpostError } from '../protocol/index.ts';
import type { Hub } from './hub.ts';
import type { AdminGuard } from './admin-auth.ts';
import type { LiveHub } from './live.ts';
import { revokeNode } from './enrollment.ts';

const NAME = /^[^\u0000-\u001f]{1,191}$/;

/**
 * `POST /v1/admin/nodes/:name/revoke` (admin role): revoke a node, as
 * `outpost node revoke NAME` does, and close its live sockets at once
 * (a revocation by another process is seen by every hub's check within a
 * second; live.ts). Audited `node.revoke`.
 */
export function registerNodeRoutes(app: FastifyInstance, hub: Hub, admin: AdminGuard, live: LiveHub, now: () => number): void {
  app.post('/v1/admin/nodes/:name/revoke', async (req) => {
    const { actor } = await admin(req);
    const name = (req.params as { name: string }).name;
    if (!NAME.test(name)) throw new OutpostError('BAD_REQUEST', 'a node name is 1 to 191 characters without control characters');
    const { id } = await revokeNode(hub.db, name, now(), { actor });
    const closed = live.closeNode(id);
    return { ok: true, name, id, liveClosed: closed };
  });
}
