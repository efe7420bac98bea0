// VM tokens. A token is "vgpu_" followed by 32 random bytes in base64url; the store keeps only
// its sha256, so a copy of the database does not let anyone connect as a VM.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'vgpu_';
const TOKEN_RE = /^vgpu_[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form: sha256 of the token's UTF-8 bytes, 64 hex digits. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/** Compares two hex hashes in time independent of where they differ. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}
