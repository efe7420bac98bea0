// The cancel FIFO of an executor (docs/executors.md): `<stateDir>/executors/<pid>.cancel`, through
// which the mediator abandons a session's in-flight GPU work even while the executor's one
// JavaScript thread is inside a long kernel (src/executor/abandon.ts). Any byte written means
// abandon. It is a named FIFO rather than a pipe inherited at fork so that a new mediator can open
// it again after adopting the executor, and so that the mediator's death means nothing: the
// executor opens it for reading and writing itself, so there is always a writer and the reader
// never sees end-of-file when a mediator goes away.

import { closeSync, constants, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/** The directory of executors' FIFOs in a state directory. */
export function cancelDir(stateDir: string): string {
  return path.join(stateDir, 'executors');
}

export function cancelFifoPath(dir: string, pid: number): string {
  return path.join(dir, `${pid}.cancel`);
}

/**
 * Writes the abandon byte to the executor's FIFO. Never blocks or throws: no FIFO (the executor
 * is gone, or runs on a driver that cannot abandon) or no reader (ENXIO) means there is nothing
 * to abandon. Returns whether the byte was written.
 */
export function abandonVia(dir: string, pid: number): boolean {
  let fd = -1;
  try {
    fd = openSync(cancelFifoPath(dir, pid), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, Buffer.of(1));
    return true;
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Whether a process `pid` exists (signal 0; EPERM means it exists but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Removes the FIFOs of executors that are gone (killed before they could remove their own). */
export function sweepCancelFifos(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const m = /^(\d+)\.cancel$/.exec(n);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      unlinkSync(path.join(dir, n));
      removed++;
    } catch {
      /* removed meanwhile */
    }
  }
  return removed;
}
