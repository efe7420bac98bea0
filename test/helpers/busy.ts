// test/programs/busy.c run in a VM through vgpu-run: it holds some device memory and runs kernels
// until stop() closes its stdin, so a test sees a guest at work (NVML status, metrics).

import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { BIN } from './paths.js';
import { buildProgram, kernelsFatbin } from './programs.js';

export interface Busy {
  /** Its first line: its pid, and cuMemGetInfo's used and total as the VM sees them. */
  first: Promise<{ pid: number; used: number; total: number }>;
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts busy in the VM of `token` on the mediator at `server`, holding `mib` MiB. */
export function startBusy(server: string, token: string, mib: number): Busy {
  const p = spawn(join(BIN, 'vgpu-run'), ['--server', server, '--token', token, '--', buildProgram('busy'), kernelsFatbin(), String(mib), '2000'],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onLine: ((l: string) => void) | undefined;
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d: string) => {
    stdout += d;
    const nl = stdout.indexOf('\n');
    if (nl >= 0) onLine?.(stdout.slice(0, nl));
  });
  p.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  const first = new Promise<{ pid: number; used: number; total: number }>((resolve, reject) => {
    onLine = (l) => resolve(JSON.parse(l) as { pid: number; used: number; total: number });
    void closed.then((code) => reject(new Error(`busy exited (${code}) before it was ready:\n${stdout}\n${stderr}`)));
  });
  return {
    first,
    async stop() {
      p.stdin.end();
      const code = await closed;
      return { code, stdout, stderr };
    },
  };
}
