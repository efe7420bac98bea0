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

/** The pid a listen file names, or undefined when it is missing or not one. */
export function listenFileOwner(stateDir: string): number | undefined {
  try {
    const m = /^pid (\d+)\n/.exec(readFileSync(join(stateDir, LISTEN_FILE), 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
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
