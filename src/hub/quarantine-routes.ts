import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OutpostError } from '../protocol/index.ts';
import type { AdminGuard } from './admin-auth.ts';
import type { QuarantineStatus } from '../adapters/adapter.ts';
import { discardQuarantined, listQuarantine, retryQuarantined, showQuarantine, type ApplyAs } from './quarantine.ts';

const STATUSES: readonly QuarantineStatus[] = ['open', 'applied', 'discarded'];

/**
 * The admin API of the quarantine (docs/protocol.md, "Admin: quarantine"),
 * behind an admin session or the admin token (a viewer only reads): list, show, retry, discard. Answers are JSON;
 * errors problem+json through the server's error handler.
 */
export function registerQuarantineRoutes(app: FastifyInstance, hub: ApplyAs, admin: AdminGuard): void {
  const now = (): number => Date.now();
  app.get('/v1/admin/quarantine', async (req) => {
    await admin(req);
    const q = req.query as Record<string, string | undefined>;
    const status = q.status;
    if (status !== undefined && !STATUSES.includes(status as QuarantineStatus)) throw new OutpostError('BAD_REQUEST', `status must be one of ${STATUSES.join(', ')}`);
    const limit = q.limit === undefined ? 1000 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new OutpostError('BAD_REQUEST', 'limit must be an integer from 1 to 10000');
    return { entries: await listQuarantine(hub.db, status as QuarantineStatus | undefined, limit) };
  });
  app.get('/v1/admin/quarantine/:id', async (req) => {
    await admin(req);
    return showQuarantine(hub.db, idParam(req));
  });
  app.post('/v1/admin/quarantine/:id/retry', async (req) => {
    const { actor } = await admin(req);
    return retryQuarantined(hub, idParam(req), actor, now());
  });
  app.post('/v1/admin/quarantine/:id/discard', async (req) => {
    const { actor } = await admin(req);
    return discardQuarantined(hub, idParam(req), actor, now());
  });
}

function idParam(req: FastifyRequest): number {
  const v = (req.params as { id?: string }).id ?? '';
  if (!/^\d{1,15}$/.test(v) || Number(v) < 1) throw new OutpostError('BAD_REQUEST', `a quarantine id is a positive integer, not ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}
