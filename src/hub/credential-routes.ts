import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OutpostError, PROTOCOL_VERSION, isOutpostError, joinRequestSchema, rotateRequestSchema, type JoinResponse } from '../protocol/index.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { redeemCode, rotateToken } from './enrollment.ts';
import { login, logout } from './admin-accounts.ts';
import { bearer, type AdminGuard } from './admin-auth.ts';
import type { FailureLimiter } from './rate-limit.ts';

const loginBodySchema = z.object({ name: z.string().min(1).max(200), password: z.string().min(1).max(4096) }).strict();

export interface CredentialRouteOptions {
  admin: AdminGuard;
  now: () => number;
  /** failed joins and logins per client address */
  limiter: FailureLimiter;
  sessionTtlMs?: number;
}

/**
 * The credential endpoints (docs/protocol.md): `POST /v1/join` (a one-time
 * code for a node credential), `POST /v1/rotate` (a new node credential),
 * `POST /v1/admin/login` and `POST /v1/admin/logout`. Failed codes and
 * passwords are counted per client address and limited (RATE_LIMITED, 429
 * with Retry-After).
 */
export function registerCredentialRoutes(app: FastifyInstance, db: Adapter, o: CredentialRouteOptions): void {
  /** Run an attempt under the failure limit of `kind` for the client's address; a failure of code `counts` is counted. */
  const limited = async <T>(req: FastifyRequest, kind: string, counts: string, attempt: () => Promise<T>): Promise<T> => {
    const key = `${kind}:${req.ip}`;
    o.limiter.check(key, o.now());
    try {
      return await attempt();
    } catch (e) {
      if (isOutpostError(e) && e.code === counts) {
        o.limiter.fail(key, o.now());
        req.log.warn({ ip: req.ip, code: e.code }, `failed ${kind} attempt`);
      }
      throw e;
    }
  };

  app.post('/v1/join', async (req) => {
    const { code } = joinRequestSchema.parse(req.body);
    return limited(req, 'join', 'ENROLLMENT_CODE_INVALID', () => redeemCode(db, code, o.now(), req.ip));
  });

  app.post('/v1/rotate', async (req): Promise<JoinResponse> => {
    const body = rotateRequestSchema.parse(req.body ?? {});
    if (body.code !== undefined) {
      if (body.nodeId === undefined) throw new OutpostError('BAD_REQUEST', 'a re-key code goes with the node id (nodeId)');
      const code = body.code;
      return limited(req, 'join', 'ENROLLMENT_CODE_INVALID', () => redeemCode(db, code, o.now(), req.ip, body.nodeId));
    }
    const r = await rotateToken(db, bearer(req), o.now(), req.ip);
    return { ...r, protocol: PROTOCOL_VERSION };
  });

  app.post('/v1/admin/login', async (req) => {
    const { name, password } = loginBodySchema.parse(req.body);
    const r = await limited(req, 'login', 'ADMIN_UNAUTHORIZED', () => login(db, name, password, { now: o.now(), ttlMs: o.sessionTtlMs, address: req.ip }));
    return { token: r.token, name: r.name, role: r.role, expiresAt: new Date(r.expiresAt).toISOString() };
  });

  app.post('/v1/admin/logout', async (req) => {
    const caller = await o.admin(req, { anyRole: true });
    if (!caller.sessionToken) throw new OutpostError('BAD_REQUEST', 'the admin token is not a session: there is nothing to log out of');
    await logout(db, caller.sessionToken, caller.actor, o.now());
    return { ok: true };
  });
}
