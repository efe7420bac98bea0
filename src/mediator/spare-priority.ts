// Spare executors start at a lower CPU priority, so that on a busy host the executors that attaching
// guests wait for get the CPU first (docs/operations.md, "Bursts of sessions"); a spare gets its
// normal priority back when a session takes it. Lowering is always allowed, but raising it back
// needs CAP_SYS_NICE or an RLIMIT_NICE that permits it: a mediator that could not undo it starts
// its spares at normal priority, rather than leave sessions running at the lower one.

import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The nice value spares start at (docs/operations.md, "Bursts of sessions"). */
export const SPARE_NICE = 10;

/** CAP_SYS_NICE's bit in /proc/PID/status's capability masks (linux/capability.h). */
const CAP_SYS_NICE = 23n;

/** Whether this process may set a child's nice value back from SPARE_NICE to its own: it has
 * CAP_SYS_NICE, or RLIMIT_NICE lets it go as low as its own value (setpriority(2)). */
export function canRestorePriority(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) === 1n) return true;
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max nice priority\s+(\S+)/m.exec(limits)?.[1];
    if (soft === undefined) return false;
    // RLIMIT_NICE's ceiling on priority is 20 - limit in nice terms; "unlimited" allows any.
    return soft === 'unlimited' || 20 - Number(soft) <= getPriority();
  } catch {
    return false;
  }
}

/** Sets the nice value of every thread of `pid` (Linux keeps one per thread, and a thread started
 * while the process was lowered would otherwise stay lowered); the reason when the kernel refused
 * or the process is gone. */
export function renice(pid: number, nice: number): { ok: true } | { ok: false; err: string } {
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    tids = [pid];
  }
  try {
    for (const tid of tids) {
      try {
        setPriority(tid, nice);
      } catch (e) {
        // A thread that ended since the listing is not a failure; the process itself is.
        if (tid === pid || (e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, err: (e as Error).message };
  }
}
