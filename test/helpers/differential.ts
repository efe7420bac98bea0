// The differential suite's programs (test/differential, docs/testing.md): building them, running
// them against a given libcuda.so.1 in-process, comparing their outputs, and the list of
// hand-written driver functions that must each have a case.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NVCC } from './nvcc.js';
import { BUILD, ROOT } from './paths.js';
import { runCollect, type ProcessRun } from './spawn.js';

const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';
const SRC = join(ROOT, 'test/differential');
const OUT = join(BUILD, 'differential');

export interface DiffProgram {
  name: string;
  /** Why the program cannot run on softgpu in-process; undefined when it can. */
  notOnSoftgpu?: string;
  /** The program takes the kernels fatbin as its argument. */
  kernels?: boolean;
}

export const DIFF_PROGRAMS: readonly DiffProgram[] = [
  { name: 'device' },
  { name: 'context' },
  { name: 'memory' },
  { name: 'module', kernels: true },
  { name: 'stream' },
  { name: 'vmm', kernels: true },
  { name: 'managed', kernels: true },
  { name: 'texture', kernels: true },
  { name: 'graph', kernels: true },
  { name: 'ipc' },
  { name: 'vmm_share' },
  {
    name: 'loader',
    notOnSoftgpu: 'softgpu does not implement cuGetProcAddress or cuGetExportTable: the executor calls it by name, and only cudart needs them',
  },
];

/** The cudart program of test/cuda that the suite compares too (built by test/helpers/nvcc.ts). */
export const DIFF_CUDART_PROGRAM = 'launch_config';

function newer(out: string, inputs: string[]): boolean {
  return existsSync(out) && inputs.every((i) => statSync(out).mtimeMs >= statSync(i).mtimeMs);
}

/** Builds test/differential/<name>.c (unless its binary is newer than it and diff.h). The programs
 * load libcuda.so.1 with dlopen, the way cudart does, so one binary runs on every backend. */
export function buildDiffProgram(name: string): string {
  const src = join(SRC, `${name}.c`);
  const out = join(OUT, name);
  mkdirSync(OUT, { recursive: true });
  if (!newer(out, [src, join(SRC, 'diff.h')])) {
    const tmp = `${out}.tmp-${process.pid}`;
    execFileSync('cc', ['-std=c11', '-O1', '-g', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', `-I${CUDA_HOME}/include`,
      '-o', tmp, src, '-ldl'], { stdio: ['ignore', 'pipe', 'pipe'] });
    renameSync(tmp, out);
  }
  return out;
}

/** test/differential/kernels.cu as a fatbin. */
export function diffKernels(): string {
  const src = join(SRC, 'kernels.cu');
  const out = join(OUT, 'kernels.fatbin');
  mkdirSync(OUT, { recursive: true });
  if (!newer(out, [src])) {
    const tmp = `${out}.tmp-${process.pid}`;
    execFileSync(NVCC, ['-fatbin', '-o', tmp, src], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    renameSync(tmp, out);
  }
  return out;
}

/** A folder in which libcuda.so.1 is `lib`, for a program to load it in-process. */
export function driverDir(lib: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-diff-driver-'));
  symlinkSync(lib, join(dir, 'libcuda.so.1'));
  return dir;
}

/** A run of a program: through vgpu-run (no signal reported) or in-process. */
export type ProgramRun = Omit<ProcessRun, 'signal'> & { signal?: NodeJS.Signals | null };

/** Runs `prog` with `libDirs` first on the loader path (its libcuda.so.1 among them). */
export function runInProcess(prog: string, args: string[], libDirs: string[], env: Record<string, string> = {},
  timeoutMs = 120_000): Promise<ProcessRun> {
  const libPath = [...libDirs, process.env.LD_LIBRARY_PATH ?? ''].filter((p) => p !== '').join(':');
  return runCollect(prog, args, { ...process.env, LD_LIBRARY_PATH: libPath, ...env }, timeoutMs, prog);
}

/** The lines that must be equal everywhere: all but the '#' notes (diff.h). */
export function resultLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** Where two outputs part, with a few lines of each around it; undefined when they agree. */
export function difference(aName: string, a: string[], bName: string, b: string[]): string | undefined {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return undefined;
  const show = (lines: string[]): string => lines.slice(Math.max(0, i - 2), i + 4).map((l, k) => {
    const at = Math.max(0, i - 2) + k;
    return `${at === i ? '>' : ' '} ${at + 1}: ${l}`;
  }).join('\n') || '  (ends here)';
  return `outputs part at line ${i + 1}\n--- ${aName} ---\n${show(a)}\n--- ${bName} ---\n${show(b)}`;
}

/**
 * Every hand-written driver function: the spec's VG_CUSTOM, VG_CUSTOM_ALIAS and VG_LOCAL entries,
 * the cu* functions the guest's hand-written sources export, and the executor's custom handlers.
 * Each must have a differential case (docs/testing.md).
 */
export function handWrittenFunctions(): Set<string> {
  const names = new Set<string>();
  const spec = readFileSync(join(ROOT, 'spec/cuda.spec.h'), 'utf8');
  for (const m of spec.matchAll(/^VG_(?:CUSTOM|CUSTOM_ALIAS|LOCAL)\b[^\n]*?\bCUresult\s+(cu\w+)\s*\(/gm)) names.add(m[1]!);
  const guestDir = join(ROOT, 'guest/cuda/impl');
  for (const f of readdirSync(guestDir).filter((f) => f.endsWith('.c'))) {
    for (const m of readFileSync(join(guestDir, f), 'utf8').matchAll(/^VG_EXPORT\s+CUresult\s+(cu\w+)\s*\(/gm)) names.add(m[1]!);
  }
  const customDir = join(ROOT, 'src/executor/custom');
  for (const f of readdirSync(customDir).filter((f) => f.endsWith('.ts') && f !== 'index.ts')) {
    for (const m of readFileSync(join(customDir, f), 'utf8').matchAll(/^export function (cu\w+)\s*\(/gm)) names.add(m[1]!);
  }
  return names;
}

/** The functions a program's output has cases for: the first word of each result line. */
export function functionsWithCases(outputs: Iterable<string>): Set<string> {
  const seen = new Set<string>();
  for (const out of outputs) for (const l of resultLines(out)) seen.add(l.split(' ', 1)[0]!);
  return seen;
}
