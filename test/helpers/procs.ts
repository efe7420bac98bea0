// Processes as Linux's /proc shows them, for tests that check which process started which.

import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The parent of `pid` (undefined once it is gone). */
export function parentOf(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[1]) : undefined;
}

/** The session (setsid) `pid` belongs to. */
export function sessionOf(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[3]) : undefined;
}

/** The processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (/^\d+$/.test(d) && parentOf(Number(d)) === pid) out.push(Number(d));
  }
  return out;
}

/** Whether `pid` runs (a zombie waiting for its parent to reap it has ended). */
export function alive(pid: number): boolean {
  const f = statFields(pid);
  return f !== undefined && f[0] !== 'Z';
}

/** The files `pid` has mapped (its shared libraries among them). */
export function mappedFiles(pid: number): string[] {
  const out = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const path = line.split(/\s+/)[5];
    if (path?.startsWith('/')) out.add(path);
  }
  return [...out];
}

/** The command line of `pid`, split into its arguments. */
export function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}
