// One mediator per state directory. Two on one directory would each enforce every VM's quota alone
// (a VM could hold its quota on each) and remove each other's admin.json; so a mediator holds an
// exclusive lock on the directory for as long as it runs, and a second one refuses to start,
// naming the first.
//
// The lock is SQLite's: an exclusive transaction on a database of its own (mediator.lock) in
// locking_mode=EXCLUSIVE, which keeps the lock until the connection closes. SQLite takes it with a
// POSIX record lock (fcntl), the lock Node itself cannot take, and the kernel drops such a lock
// when its process dies however it dies: a crashed mediator never leaves a stale lock, and no pid
// has to be trusted. The alternatives fail exactly there: a PID file needs a liveness check of
// the recorded pid, which pid reuse and PID namespaces (containers sharing the directory, each
// mediator pid 1) defeat; a Unix socket bound as the lock leaves a file behind after a crash whose
// clean-up races a second starter. The lock database holds nothing: who holds the lock is written
// next to it (mediator.json) for the message a second mediator prints. (On a network filesystem
// the lock is only as good as its lock service.)

import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';

import { ensureStateDir } from './open.js';

export const LOCK_FILE = 'mediator.lock';
export const HOLDER_FILE = 'mediator.json';

const holderSchema = z.object({ pid: z.number().int().positive(), instance: z.string().min(1), startedAt: z.string() });
export type LockHolder = z.infer<typeof holderSchema>;

export class StateDirInUse extends Error {
  override readonly name = 'StateDirInUse';
  constructor(readonly dir: string, readonly holder: LockHolder | undefined) {
    const who = holder ? `another vgpu-mediator (pid ${holder.pid}, started ${holder.startedAt})` : 'another vgpu-mediator';
    const stop = holder ? `stop it first (kill ${holder.pid})` : 'stop it first';
    super(`state directory ${dir} is in use by ${who}: ${stop}, or give this one another state directory with --state-dir DIR or VGPU_STATE_DIR`);
  }
}

export interface StateLock {
  /** This mediator's identity, unique per start: what it writes it marks as its own with it. */
  readonly holder: LockHolder;
  release(): void;
}

/** Who holds the state directory's lock, as it wrote it; undefined if that cannot be read. */
export function readLockHolder(stateDir: string): LockHolder | undefined {
  try {
    const r = holderSchema.safeParse(JSON.parse(readFileSync(path.join(stateDir, HOLDER_FILE), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the state directory for this process, or throws StateDirInUse naming who has it. */
export function lockStateDir(stateDir: string): StateLock {
  const dir = path.resolve(stateDir);
  ensureStateDir(dir);
  const db = new Database(path.join(dir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (e) {
    db.close();
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) throw new StateDirInUse(dir, readLockHolder(dir));
    throw e;
  }
  const holder: LockHolder = { pid: process.pid, instance: randomUUID(), startedAt: new Date().toISOString() };
  const file = path.join(dir, HOLDER_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(holder) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
  let held = true;
  return {
    holder,
    release() {
      if (!held) return;
      held = false;
      // Only while the lock is still ours is the file surely ours too.
      if (readLockHolder(dir)?.instance === holder.instance) {
        try {
          unlinkSync(file);
        } catch {
          /* already gone */
        }
      }
      db.close();
    },
  };
}
