// Builds the C test programs in test/programs against vgpu's guest libcuda.so.1 (never NVIDIA's)
// and runs them with the guest library first on the loader path.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { BIN, BUILD, GUEST_LIB_DIR, ROOT } from './paths.js';

const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';

export function buildProgram(name: string, extra: string[] = []): string {
  const src = join(ROOT, 'test/programs', `${name}.c`);
  const out = join(BUILD, 'test-programs', name);
  mkdirSync(join(BUILD, 'test-programs'), { recursive: true });
  // Rebuild when the source or a shared header (test/programs/*.h) is newer than the binary.
  const dir = join(ROOT, 'test/programs');
  const newest = Math.max(statSync(src).mtimeMs, ...readdirSync(dir).filter((f) => f.endsWith('.h')).map((f) => statSync(join(dir, f)).mtimeMs));
  if (!existsSync(out) || statSync(out).mtimeMs < newest) {
    execFileSync('cc', ['-std=c11', '-O1', '-g', '-D_GNU_SOURCE', '-Wall', '-Werror', `-I${CUDA_HOME}/include`, '-o', out, src,
      `-L${GUEST_LIB_DIR}`, '-lcuda', '-lpthread', ...extra], { stdio: 'inherit' });
  }
  return out;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program through bin/vgpu-run (guest libraries first on the loader path). */
export function runGuest(
  prog: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
  progArgs: string[] = [],
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(join(BIN, 'vgpu-run'), [...args, '--', prog, ...progArgs], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${prog} timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': 'exit' can fire before the pipes are drained, leaving stdout empty
    // for a program that printed and exited 0 (seen under load in CI).
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export { GUEST_LIB_DIR };
