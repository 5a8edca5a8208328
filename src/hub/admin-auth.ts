import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { OutpostError } from '../protocol/index.ts';
import type { Adapter, AdminRole } from '../adapters/adapter.ts';
import { sessionOf } from './admin-accounts.ts';

/** The shortest admin token the hub accepts (shorter ones are a configuration error). */
export const ADMIN_TOKEN_MIN = 16;

/** Who made an admin request: the audit actor and the role that was checked. */
export interface AdminCaller {
  /** the admin's name (a session), or `api` / `api:NAME` (the admin token, NAME from `X-Outpost-Actor`) */
  actor: string;
  role: AdminRole;
  /** the session's token when the caller logged in (for logout); absent for the admin token */
  sessionToken?: string;
}

/** Checks an admin request; returns the caller, or throws ADMIN_UNAUTHORIZED, FORBIDDEN or ADMIN_DISABLED. */
export type AdminGuard = (req: FastifyRequest, opts?: { anyRole?: boolean }) => Promise<AdminCaller>;

/** The bearer token of a request, if it has one. */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  const m = h ? /^bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m?.[1];
}

/**
 * The guard of the admin API (`/v1/admin/…`). A request carries either an
 * admin's session token (`POST /v1/admin/login`) or the hub's admin token
 * (`OUTPOST_ADMIN_TOKEN`, an automation credential with the admin role) as a
 * bearer token. Viewers may only read (GET); anything else needs the admin
 * role (FORBIDDEN). Node credentials never pass. With no admin token and no
 * admin account, the admin API is off (ADMIN_DISABLED).
 */
export function adminGuard(o: { token: string | undefined; db: Adapter; now: () => number }): AdminGuard {
  if (o.token !== undefined && o.token.length < ADMIN_TOKEN_MIN) {
    throw new OutpostError('CONFIG_INVALID', `OUTPOST_ADMIN_TOKEN must have at least ${ADMIN_TOKEN_MIN} characters`);
  }
  const want = o.token === undefined ? null : digest(o.token);
  return async (req, opts = {}) => {
    const given = bearer(req);
    let caller: AdminCaller | undefined;
    // The admin token is compared in constant time (digests of equal length); a session is found by the SHA-256 of its token.
    if (given && want && timingSafeEqual(digest(given), want)) {
      const by = req.headers['x-outpost-actor'];
      caller = { actor: typeof by === 'string' && /^[\w.@-]{1,64}$/.test(by) ? `api:${by}` : 'api', role: 'admin' };
    } else if (given?.startsWith('ops_')) {
      const s = await sessionOf(o.db, given, o.now());
      if (s) caller = { actor: s.admin, role: s.role, sessionToken: given };
    }
    if (!caller) {
      if (!want && (await o.db.read((tx) => tx.countAdmins())) === 0) {
        throw new OutpostError('ADMIN_DISABLED', 'the admin API is off: add an admin (outpost admin add NAME --db HUB_URL) or start the hub with OUTPOST_ADMIN_TOKEN set');
      }
      throw new OutpostError('ADMIN_UNAUTHORIZED', 'the admin API needs an admin session (POST /v1/admin/login) or the admin token: Authorization: Bearer …; the session may have expired');
    }
    const reading = req.method === 'GET' || req.method === 'HEAD';
    if (!reading && !opts.anyRole && caller.role !== 'admin') throw new OutpostError('FORBIDDEN', `${caller.actor} is a viewer: only GET requests of the admin API are allowed`);
    return caller;
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
