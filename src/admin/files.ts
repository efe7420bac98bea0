// The admin API's files in the state directory (docs/admin-api.md, Authentication):
//   admin-token  the bearer token non-loopback clients must send; created on the mediator's first
//                start with mode 0600, kept across restarts, replaced by deleting it.
//   admin.json   {url, pid, instance} of the running mediator's API, so vgpu-admin finds it;
//                written at start, removed at stop by the mediator that wrote it (the instance
//                is unique per start: a pid may be reused), a stale one recognised by its dead pid.

import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const ADMIN_TOKEN_FILE = 'admin-token';
export const ADMIN_INFO_FILE = 'admin.json';

const TOKEN_RE = /^vgpuadm_[A-Za-z0-9_-]{43}$/;

/** Reads the admin token, creating it (0600) if missing. */
export function ensureAdminToken(stateDir: string): { token: string; file: string; created: boolean } {
  const file = join(stateDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (!TOKEN_RE.test(token)) throw new Error(`${file} does not hold an admin token; delete it to have a new one made`);
    chmodSync(file, 0o600);
    return { token, file, created: false };
  }
  const token = 'vgpuadm_' + randomBytes(32).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return { token, file, created: true };
}

/** The admin token if this user can read it (vgpu-admin on the mediator's host). */
export function readAdminToken(stateDir: string): string | undefined {
  try {
    const t = readFileSync(join(stateDir, ADMIN_TOKEN_FILE), 'utf8').trim();
    return TOKEN_RE.test(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Constant-time comparison of a presented token with the real one. */
export function tokenMatches(presented: string, real: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(real).digest();
  return timingSafeEqual(a, b);
}

const infoSchema = z.object({ url: z.string().url(), pid: z.number().int().positive(), instance: z.string().min(1).optional() });
export type AdminInfo = z.infer<typeof infoSchema>;

/** admin.json as written, whether or not its process still runs. */
function readInfoFile(stateDir: string): AdminInfo | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(stateDir, ADMIN_INFO_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  const r = infoSchema.safeParse(parsed);
  return r.success ? r.data : undefined;
}

export function writeAdminInfo(stateDir: string, info: AdminInfo): void {
  const file = join(stateDir, ADMIN_INFO_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** Removes admin.json if `owner` wrote it; anyone else's (or an unreadable one) stays. */
export function removeAdminInfo(stateDir: string, owner: { pid: number; instance: string }): void {
  const info = readInfoFile(stateDir);
  if (!info || info.pid !== owner.pid || info.instance !== owner.instance) return;
  try {
    unlinkSync(join(stateDir, ADMIN_INFO_FILE));
  } catch {
    /* already gone */
  }
}

/** The running mediator's API, or undefined when there is none (no file, or its process is gone). */
export function readAdminInfo(stateDir: string): AdminInfo | undefined {
  const info = readInfoFile(stateDir);
  if (!info) return undefined;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    // EPERM: alive but someone else's; still a mediator to talk to.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return info;
}
