// Runs a child process to completion with its output collected: the common core of the helpers
// that run test programs (nvcc.ts, guest-tree.ts, differential.ts).

import { spawn } from 'node:child_process';

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Resolves when the child has exited and its pipes are drained ('close', not 'exit'); rejects,
 * after killing it, if it runs longer than `timeoutMs`, with `what` and its output so far. */
export function runCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number,
  what: string): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
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
}
