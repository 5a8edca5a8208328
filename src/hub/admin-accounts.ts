import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { OutpostError } from '../protocol/index.ts';
import type { Adapter, AdminRole, SessionRecord } from '../adapters/adapter.ts';
import { hashSecret, newSessionToken } from './credentials.ts';

/**
 * Admin accounts of the console: passwords kept as argon2id hashes only,
 * sessions as random tokens of which the hub keeps the SHA-256. Logins
 * (failed ones too, without the password) and accounts added go to the audit
 * trail. docs/security.md has the reasoning.
 */

export const ADMIN_ROLES: readonly AdminRole[] = ['admin', 'viewer'];
/** A console session lasts this long from its login (default 8 hours). */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** The shortest password `outpost admin add` accepts. */
export const PASSWORD_MIN = 12;
const PASSWORD_MAX = 1024;

/** argon2id with OWASP's first recommended setting: 19 MiB, 2 passes, 1 lane. */
const ARGON2 = { algorithm: 2 /* Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax) */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** A hash to verify against when the name is unknown, so that a wrong name costs as long as a wrong password. */
let dummyHash: Promise<string> | undefined;
const dummy = (): Promise<string> => (dummyHash ??= argon2Hash('outpost-no-such-admin', ARGON2));

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2);
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name) || name === 'api') {
    throw new OutpostError('BAD_REQUEST', `admin name ${JSON.stringify(name.slice(0, 80))}: use letters, digits, '.', '_', '@' or '-' (at most 64; not "api")`);
  }
}

/** `outpost admin add NAME --role …`: a new account; NODE_EXISTS-like refusal (BAD_REQUEST) if the name is taken. */
export async function addAdmin(db: Adapter, a: { name: string; password: string; role?: AdminRole; actor: string }, now: number = Date.now()): Promise<{ name: string; role: AdminRole }> {
  checkName(a.name);
  const role = a.role ?? 'admin';
  if (!ADMIN_ROLES.includes(role)) throw new OutpostError('BAD_REQUEST', `role must be admin or viewer`);
  if (a.password.length < PASSWORD_MIN) throw new OutpostError('BAD_REQUEST', `the password must have at least ${PASSWORD_MIN} characters`);
  if (a.password.length > PASSWORD_MAX) throw new OutpostError('BAD_REQUEST', `the password must have at most ${PASSWORD_MAX} characters`);
  await db.installBookkeeping('hub');
  const passwordHash = await hashPassword(a.password);
  await db.write(async (tx) => {
    if (await tx.adminByName(a.name)) throw new OutpostError('BAD_REQUEST', `an admin named ${a.name} exists already`);
    await tx.createAdmin({ name: a.name, role, passwordHash, createdAt: now });
    await tx.addAudit({ actor: a.actor, action: 'admin.add', target: `admin:${a.name}`, detail: JSON.stringify({ role }) }, now);
  });
  return { name: a.name, role };
}

export interface LoginResult {
  token: string;
  name: string;
  role: AdminRole;
  expiresAt: number;
}

/**
 * Check a name and password; on success a new session. Every failure is the
 * same ADMIN_UNAUTHORIZED, whether or not the name exists (an unknown name
 * is verified against a dummy hash, so it takes as long), and is audited as
 * `admin.login.failed` with the name only if such an admin exists (a
 * password typed into the name field never lands in the trail).
 */
export async function login(db: Adapter, name: string, password: string, o: { now: number; ttlMs?: number; address?: string }): Promise<LoginResult> {
  const admin = name.length <= 64 ? await db.read((tx) => tx.adminByName(name)) : null;
  const ok = password.length <= PASSWORD_MAX && (await argon2Verify(admin?.passwordHash ?? (await dummy()), password).catch(() => false));
  const address = o.address ?? null;
  if (!admin || !ok) {
    await db.write((tx) => tx.addAudit({
      actor: admin ? admin.name : 'unknown', action: 'admin.login.failed', target: admin ? `admin:${admin.name}` : null,
      detail: JSON.stringify({ address, knownName: !!admin }),
    }, o.now));
    throw new OutpostError('ADMIN_UNAUTHORIZED', 'the name or the password is wrong');
  }
  const token = newSessionToken();
  const expiresAt = o.now + (o.ttlMs ?? DEFAULT_SESSION_TTL_MS);
  await db.write(async (tx) => {
    await tx.deleteExpiredSessions(o.now);
    await tx.createSession({ tokenHash: hashSecret(token), admin: admin.name, createdAt: o.now, expiresAt });
    await tx.addAudit({ actor: admin.name, action: 'admin.login', target: `admin:${admin.name}`, detail: JSON.stringify({ address, role: admin.role, expiresAt: new Date(expiresAt).toISOString() }) }, o.now);
  });
  return { token, name: admin.name, role: admin.role, expiresAt };
}

/** The live session of a token, or null (unknown, expired, or its admin is gone). An expired one is deleted. */
export async function sessionOf(db: Adapter, token: string, now: number): Promise<SessionRecord | null> {
  const h = hashSecret(token);
  const s = await db.read((tx) => tx.sessionByHash(h));
  if (!s) return null;
  if (now >= s.expiresAt) {
    await db.write((tx) => tx.deleteSession(h));
    return null;
  }
  return s;
}

/** End a session; audited. */
export async function logout(db: Adapter, token: string, admin: string, now: number): Promise<void> {
  await db.write(async (tx) => {
    if (await tx.deleteSession(hashSecret(token))) await tx.addAudit({ actor: admin, action: 'admin.logout', target: `admin:${admin}`, detail: null }, now);
  });
}
