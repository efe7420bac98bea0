// Opening the configuration database: the state directory (private to its owner), the file, the
// pragmas that let the CLI and a running mediator share it, and the schema migrations.

import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { VgpuError } from '../common/errors.js';
import { migrate } from './migrations.js';

export const DB_FILE = 'vgpu_config.db';
// How long a writer waits for another process's write transaction before giving up. CLI and
// mediator transactions are single statements or a handful, so anything near this is a stuck peer.
export const BUSY_TIMEOUT_MS = 5000;

function errnoOf(e: unknown): string {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : '';
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Turns a SQLite failure into the catalogue error an operator can act on; others pass through. */
export function storeError(e: unknown, file: string): unknown {
  if (e instanceof VgpuError) return e;
  const code = errnoOf(e);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new VgpuError('VGPU_ERR_STORE_BUSY', { file }, { cause: e });
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_CANTOPEN') ||
      code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_PERM') {
    return new VgpuError('VGPU_ERR_STORE_OPEN', { file, reason: reasonOf(e) }, { cause: e });
  }
  return e;
}

export function ensureStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = errnoOf(e);
    const reason = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : reasonOf(e);
    throw new VgpuError('VGPU_ERR_STATE_DIR', { dir, reason }, { cause: e });
  }
  if (!statSync(dir).isDirectory()) {
    throw new VgpuError('VGPU_ERR_STATE_DIR', { dir, reason: 'it is not a directory' });
  }
}

export interface OpenedDb {
  db: Database.Database;
  file: string;
  migrated: number[];
}

export function openDatabase(stateDir: string): OpenedDb {
  const dir = path.resolve(stateDir);
  ensureStateDir(dir);
  const file = path.join(dir, DB_FILE);
  const fresh = !existsSync(file);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    throw storeError(e, file);
  }
  try {
    // The database holds token hashes and quotas: keep it private even in a shared directory.
    if (fresh) chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const migrated = migrate(db, file);
    return { db, file, migrated };
  } catch (e) {
    db.close();
    throw storeError(e, file);
  }
}
