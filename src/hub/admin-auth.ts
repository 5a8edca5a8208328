import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { OutpostError } from '../protocol/index.ts';

/** The shortest admin token the hub accepts (shorter ones are a configuration error). */
export const ADMIN_TOKEN_MIN = 16;

/**
 * The guard of the admin API (`/v1/admin/…`): the request must carry the
 * hub's admin token as a bearer token. Without a configured token the admin
 * API is off. Node credentials never pass (they are different tokens).
 * Returns the actor recorded in the audit trail. Issue 7 replaces the token
 * with admin accounts.
 */
export function adminGuard(token: string | undefined): (req: FastifyRequest) => string {
  if (token !== undefined && token.length < ADMIN_TOKEN_MIN) {
    throw new OutpostError('CONFIG_INVALID', `OUTPOST_ADMIN_TOKEN must have at least ${ADMIN_TOKEN_MIN} characters`);
  }
  const want = token === undefined ? null : digest(token);
  return (req) => {
    if (!want) throw new OutpostError('ADMIN_DISABLED', 'the admin API is off: start the hub with OUTPOST_ADMIN_TOKEN set');
    const h = req.headers.authorization;
    const m = h ? /^bearer\s+(\S+)\s*$/i.exec(h) : null;
    if (!m || !timingSafeEqual(digest(m[1]!), want)) throw new OutpostError('ADMIN_UNAUTHORIZED', 'the admin API needs the admin token (Authorization: Bearer …)');
    const by = req.headers['x-outpost-actor'];
    return typeof by === 'string' && /^[\w.@-]{1,64}$/.test(by) ? `api:${by}` : 'api';
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
