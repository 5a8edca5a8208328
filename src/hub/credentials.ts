import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** Enrollment codes are one-time and short enough to paste: 4 groups of 6 hex digits (96 bits). */
export function newEnrollmentCode(): string {
  return randomBytes(12).toString('hex').match(/.{6}/g)!.join('-');
}

/** A node's own credential (256 bits); the hub keeps only its hash. */
export function newNodeToken(): string {
  return `opn_${randomBytes(32).toString('base64url')}`;
}

/** An admin's console session (256 bits); the hub keeps only its hash. The prefix tells it from a node credential. */
export function newSessionToken(): string {
  return `ops_${randomBytes(32).toString('base64url')}`;
}

export function newNodeId(): string {
  return `n-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret.trim()).digest('hex');
}
