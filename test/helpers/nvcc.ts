// Builds the CUDA runtime test programs in test/cuda with NVIDIA's nvcc, in the three ways an
// application can link the runtime, and runs them against vgpu's guest libcuda.so.1 (never
// NVIDIA's): the guest library comes first on the loader path.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { BUILD, GUEST_LIB_DIR, ROOT } from './paths.js';
import { runCollect, type ProcessRun } from './spawn.js';

const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';
export const NVCC = join(CUDA_HOME, 'bin', 'nvcc');
const CUDA_LIB = join(CUDA_HOME, 'lib64');
export const CUDA_TEST_DIR = join(ROOT, 'test/cuda');
/** Programs built for several virtual architectures and run at every compute capability
 * (test/e2e/cuda-cc.test.ts); they share test/cuda's headers. */
export const CUDA_CC_TEST_DIR = join(ROOT, 'test/cuda-cc');
const OUT_DIR = join(BUILD, 'cuda-tests');

/** How the program links the CUDA runtime. */
export type CudartFlavour = 'static' | 'shared' | 'per-thread';

export const FLAVOURS: readonly CudartFlavour[] = ['static', 'shared', 'per-thread'];

const FLAVOUR_FLAGS: Record<CudartFlavour, string[]> = {
  static: [], // nvcc's default: libcudart_static.a
  shared: ['-cudart', 'shared'],
  'per-thread': ['--default-stream', 'per-thread'],
};

export function nvccAvailable(): boolean {
  return existsSync(NVCC);
}

/** test/cuda/printf.cu's kernels as a fatbin (rebuilt when the source is newer), for the driver-API
 * program test/programs/printf.c. */
export function printfFatbin(): string {
  const src = join(CUDA_TEST_DIR, 'printf.cu');
  const out = join(BUILD, 'test-programs', 'printf.fatbin');
  mkdirSync(join(BUILD, 'test-programs'), { recursive: true });
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) execFileSync(NVCC, ['-fatbin', '-o', out, src], { stdio: 'inherit' });
  return out;
}

/** The .cu programs of test/cuda (or `dir`), by name (without the extension), sorted. */
export function cudaPrograms(dir = CUDA_TEST_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cu'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function newestInput(src: string): number {
  // Every program includes the shared headers of test/cuda, so they count as inputs too.
  let t = statSync(src).mtimeMs;
  for (const f of readdirSync(CUDA_TEST_DIR)) if (f.endsWith('.h')) t = Math.max(t, statSync(join(CUDA_TEST_DIR, f)).mtimeMs);
  return t;
}

/**
 * Compiles test/cuda/<name>.cu (or <dir>/<name>.cu) into build/cuda-tests/<name>-<flavour> unless
 * that binary is newer than its sources. Linked against the guest libcuda.so.1 too, since the programs compare the
 * runtime's answers with the driver API's. Returns the binary's path.
 */
/**
 * Extra nvcc options a program asks for on its first line (`// nvcc-flags: -rdc=true ...`), for the
 * few programs that cannot be built the ordinary way (relocatable device code). Only options
 * (words starting with '-') are accepted, so a program cannot name other inputs or outputs.
 */
export function programNvccFlags(src: string): string[] {
  const first = readFileSync(src, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^\/\/ nvcc-flags:(.*)$/.exec(first);
  if (!m) return [];
  const flags = m[1]!.trim().split(/\s+/).filter((f) => f !== '');
  const bad = flags.find((f) => !/^-[A-Za-z0-9_=.,-]+$/.test(f) || f === '-o');
  if (bad !== undefined) throw new Error(`${src}: nvcc-flags: '${bad}' is not an nvcc option`);
  return flags;
}

export function buildCudaProgram(name: string, flavour: CudartFlavour, dir = CUDA_TEST_DIR): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad program name '${name}'`);
  const src = join(dir, `${name}.cu`);
  const out = join(OUT_DIR, `${name}-${flavour}`);
  mkdirSync(OUT_DIR, { recursive: true });
  if (existsSync(out) && statSync(out).mtimeMs >= newestInput(src)) return out;
  // Build under a temporary name so an interrupted build never leaves a binary that looks fresh.
  const tmp = `${out}.tmp-${process.pid}`;
  execFileSync(NVCC, ['-O1', '-g', '-Xcompiler', '-Wall', ...FLAVOUR_FLAGS[flavour], ...programNvccFlags(src), '-o', tmp, src,
    `-L${GUEST_LIB_DIR}`, '-lcuda', '-lpthread'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  renameSync(tmp, out);
  return out;
}

export type CudaRunResult = ProcessRun;

/**
 * Runs a built program with the guest library first on the loader path (and, for the shared
 * runtime, NVIDIA's libcudart.so.13 after it), talking to the mediator at `server`.
 */
export function runCudaProgram(prog: string, flavour: CudartFlavour, server: string, env: Record<string, string> = {},
  timeoutMs = 120_000): Promise<CudaRunResult> {
  const libPath = [GUEST_LIB_DIR, ...(flavour === 'shared' ? [CUDA_LIB] : []), process.env.LD_LIBRARY_PATH ?? '']
    .filter((p) => p !== '').join(':');
  return runCollect(prog, [], { ...process.env, LD_LIBRARY_PATH: libPath, VGPU_SERVER: server, ...env }, timeoutMs, prog);
}

/** The loader's view: which libcuda.so.1 and libcudart the program really loads. */
export function loadedLibraries(prog: string, flavour: CudartFlavour): string {
  const libPath = [GUEST_LIB_DIR, ...(flavour === 'shared' ? [CUDA_LIB] : [])].join(':');
  return execFileSync('ldd', [prog], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: libPath } });
}
