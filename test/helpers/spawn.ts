// Runs a child process to completion with its output collected: the common core of the helpers
// that run test programs (nvcc.ts, guest-tree.ts, differential.ts).

import { spawn, type ChildProcess } from 'node:child_process';

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A child whose output is being collected; `done` settles as runCollect's promise does. */
export interface CollectingProcess {
  child: ChildProcess;
  done: Promise<ProcessRun>;
  /** What it has written so far. */
  output(): { stdout: string; stderr: string };
}

/** Starts a child with its output collected; see runCollect. */
export function startCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number,
  what: string): CollectingProcess {
  const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ProcessRun>((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${what} timed out after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-8000)}`));
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child: p, done, output: () => ({ stdout, stderr }) };
}

/** Resolves when the child has exited and its pipes are drained ('close', not 'exit'); rejects,
 * after killing it, if it runs longer than `timeoutMs`, with `what` and its output so far. */
export function runCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number,
  what: string): Promise<ProcessRun> {
  return startCollect(cmd, args, env, timeoutMs, what).done;
}
