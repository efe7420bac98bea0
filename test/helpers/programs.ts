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

/** test/programs/kernels.cu as a fatbin (built with nvcc when missing or older than the source). */
export function kernelsFatbin(): string {
  const src = join(ROOT, 'test/programs/kernels.cu');
  const out = join(BUILD, 'test-programs', 'kernels.fatbin');
  mkdirSync(join(BUILD, 'test-programs'), { recursive: true });
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    execFileSync(join(CUDA_HOME, 'bin', 'nvcc'), ['-fatbin', '-o', out, src], { stdio: 'inherit' });
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

/** A guest program that runs while the test talks to it: its stdout lines as they come. */
export interface InteractiveGuest {
  lines: string[];
  stderr(): string;
  /** Resolves with the first line (already seen or still to come) matching `re`. */
  waitFor(re: RegExp): Promise<string>;
  /** Ends the program's stdin (test programs that "hold" wait for it). */
  release(): void;
  /** Sends the program one line: quota.c's "hold" goes on to its next step. */
  step(): void;
  /** Sends the program a signal (SIGKILL: it goes away without a word to the host). */
  kill(signal: NodeJS.Signals): void;
  done: Promise<number | null>;
}

/** Starts `prog` through bin/vgpu-run as the VM of `token`, with `env` added to the environment. */
export function startGuest(server: string, token: string, prog: string, progArgs: string[], env: Record<string, string> = {}): InteractiveGuest {
  const p = spawn(join(BIN, 'vgpu-run'), ['--server', server, '--token', token, '--', prog, ...progArgs], { env: { ...process.env, ...env } });
  const lines: string[] = [];
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let buf = '';
  p.stdout.setEncoding('utf8');
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (d: string) => (err += d));
  p.stdout.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(l);
      for (const w of [...waiters]) if (w.re.test(l)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
    }
  });
  const done = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  return {
    lines,
    stderr: () => err,
    waitFor: (re) => {
      const hit = lines.find((l) => re.test(l));
      return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ re, resolve }));
    },
    release: () => p.stdin.end('\n'),
    step: () => p.stdin.write('\n'),
    kill: (signal) => p.kill(signal),
    done,
  };
}
