// VM and operator tokens. A VM's token is "vgpu_" followed by 32 random bytes in base64url, an
// operator's "vgpuop_" and the same (so neither is mistaken for the other, nor for the admin-token
// file's "vgpuadm_"); the store keeps only their sha256, so a copy of the database does not let
// anyone connect as a VM or administer the host.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'vgpu_';
const TOKEN_RE = /^vgpu_[A-Za-z0-9_-]{43}$/;
export const OPERATOR_TOKEN_PREFIX = 'vgpuop_';
const OPERATOR_TOKEN_RE = /^vgpuop_[A-Za-z0-9_-]{43}$/;

export function newToken(prefix: typeof TOKEN_PREFIX | typeof OPERATOR_TOKEN_PREFIX = TOKEN_PREFIX): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** The stored form: sha256 of the token's UTF-8 bytes, 64 hex digits. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

export function looksLikeOperatorToken(s: string): boolean {
  return OPERATOR_TOKEN_RE.test(s);
}

/** Compares two hex hashes in time independent of where they differ. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

/** The id of the row whose hash is the token's, or -1. Every row is compared, in constant time and
 * without stopping at a match, so the answer's timing says nothing about which hashes are near. */
export function matchTokenHash(rows: Iterable<{ id: number; token_hash: string }>, token: string): number {
  const h = hashToken(token);
  let match = -1;
  for (const row of rows) if (sameHash(row.token_hash, h)) match = row.id;
  return match;
}
