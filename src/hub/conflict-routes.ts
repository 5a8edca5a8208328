import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OutpostError, wireValueSchema } from '../protocol/index.ts';
import type { Hub } from './hub.ts';
import type { AdminGuard } from './admin-auth.ts';

const STATUSES = ['auto', 'open', 'resolved'] as const;
const ident = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(128);

/** The body of `POST /v1/admin/conflicts/:id/resolve`. */
export const resolveBodySchema = z.union([
  z.object({ take: z.enum(['hub', 'node']) }).strict(),
  z.object({ set: z.record(ident, wireValueSchema).refine((v) => Object.keys(v).length > 0, 'set at least one column') }).strict(),
]);

const listQuery = z.object({
  status: z.enum(STATUSES).optional(),
  table: ident.optional(),
  after: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
}).strict();

const idParam = (req: FastifyRequest): number => {
  const raw = (req.params as { id?: string }).id ?? '';
  if (!/^\d{1,15}$/.test(raw)) throw new OutpostError('BAD_REQUEST', 'a conflict id is a positive integer');
  return Number(raw);
};

/**
 * The admin API for conflicts and the audit trail (docs/protocol.md,
 * "Admin"): list and show conflicts, resolve an open one. Every route needs
 * an admin session or the admin token (`admin-auth.ts`; a viewer only reads); node credentials are refused.
 */
export function registerConflictRoutes(app: FastifyInstance, hub: Hub, admin: AdminGuard): void {
  app.get('/v1/admin/conflicts', async (req) => {
    await admin(req);
    const q = listQuery.parse(req.query);
    return { conflicts: await hub.conflicts(q) };
  });
  app.get('/v1/admin/conflicts/:id', async (req) => {
    await admin(req);
    return hub.conflict(idParam(req));
  });
  app.post('/v1/admin/conflicts/:id/resolve', async (req) => {
    const { actor } = await admin(req);
    const id = idParam(req);
    return hub.resolveConflict(id, resolveBodySchema.parse(req.body), actor);
  });
  app.get('/v1/admin/audit', async (req) => {
    await admin(req);
    const q = listQuery.pick({ after: true, limit: true }).strict().parse(req.query);
    const entries = await hub.db.read((tx) => tx.listAudit({ after: q.after, limit: q.limit ?? 100 }));
    return { entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString(), detail: e.detail === null ? null : (JSON.parse(e.detail) as unknown) })) };
  });
}
