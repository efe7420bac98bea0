// The state directory's `listen` file: the guest addresses of the mediator running on it, so that
// vgpu-run (a shell script) finds the mediator of a state directory as vgpu-admin does through
// admin.json. Plain lines, for the shell: `pid PID`, then one address a line as --listen takes it.
// Written once the listeners are bound, removed at stop by the mediator that wrote it; a stale one
// (its process gone, after a crash) is recognised by its pid.

import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LISTEN_FILE = 'listen';

export function writeListenFile(stateDir: string, pid: number, addresses: readonly string[]): void {
  const file = join(stateDir, LISTEN_FILE);
  const tmp = `${file}.${pid}.tmp`;
  // Addresses are no secret; the state directory's own mode decides who may read them.
  writeFileSync(tmp, [`pid ${pid}`, ...addresses].join('\n') + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

export interface ListenFile {
  pid: number;
  addresses: string[];
  /** Whether process `pid` exists (a listen file outlives a mediator that crashed). */
  running: boolean;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but is another user's (the packaged mediator runs as vgpu).
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The listen file of `stateDir`, or undefined when it is missing, unreadable or not one. */
export function readListenFile(stateDir: string): ListenFile | undefined {
  let text: string;
  try {
    text = readFileSync(join(stateDir, LISTEN_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const [first, ...rest] = text.split('\n');
  const m = /^pid (\d+)$/.exec(first ?? '');
  if (!m) return undefined;
  const pid = Number(m[1]);
  return { pid, addresses: rest.filter((l) => l !== ''), running: pid > 0 && isRunning(pid) };
}

/** The pid a listen file names, or undefined when it is missing or not one. */
export function listenFileOwner(stateDir: string): number | undefined {
  return readListenFile(stateDir)?.pid;
}

/** Removes the listen file if `pid` wrote it; another mediator's stays. */
export function removeListenFile(stateDir: string, pid: number): void {
  if (listenFileOwner(stateDir) !== pid) return;
  try {
    unlinkSync(join(stateDir, LISTEN_FILE));
  } catch {
    /* already gone */
  }
}
