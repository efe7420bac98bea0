// NVIDIA's and Debian's real CUDA clients in a Debian sid guest tree (test/helpers/guest-tree.ts),
// on vgpu's libcuda.so.1 and libnvidia-ml.so.1 through a real mediator on softgpu:
//  - llama.cpp's CUDA backend (libggml-cuda, cudart 12.4) finds and describes the vGPU, with the
//    exact lines Ollama parses, and nvidia-smi 550 agrees;
//  - NVIDIA's cudart 12.4 runs the test/cuda programs, compiled here by nvcc for sm_75 with PTX and
//    linked against the tree's libcudart.so.12;
//  - a real llama.cpp forward pass on the vGPU gives the CPU backend's tokens, and cuBLAS 12.4's
//    cublasSgemm is checked against a CPU product.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';

import type { Welcome } from '../../src/protocol/handshake.js';
import { TestGuest } from '../helpers/guest.js';
import { getGuestTree, runInTree, startInTree, tinyLlamaGguf, TREE_LIB, type TreeRun } from '../helpers/guest-tree.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { CUDA_TEST_DIR, NVCC, cudaPrograms, nvccAvailable } from '../helpers/nvcc.js';
import { BUILD, GUEST_LIB_DIR, ROOT } from '../helpers/paths.js';

/** CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED: 1, so ggml takes its VMM pool (cuMemAddressReserve,
 * cuMemCreate, cuMemMap, cuMemSetAccess) instead of its cudaMalloc pool, and the llama.cpp tests run on it. */
const ATTR_VMM_SUPPORTED = 102;
const MIB = 1024 * 1024;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where host-built programs appear inside the tree (under its private /tmp). */
const TREE_BIN = '/tmp/vgpu-tree-bin';

/** test/cuda programs that only make sense with the CUDA 13 runtime, and why. */
const CUDART13_ONLY: Record<string, string> = {
  device_props: "it asserts a 13.x runtime and reads cudaDeviceProp with CUDA 13's layout, which dropped fields cudart 12 still fills",
  managed: "CUDA 13's cudaMemPrefetchAsync and cudaMemAdvise take a cudaMemLocation where cudart 12's take a device ordinal, so the call it compiles to is not cudart 12's; test/e2e/cudart.test.ts runs it on cudart 13 (managed_vars runs here)",
  dynamic_parallelism: "it is relocatable device code linked with this toolkit's libcudadevrt (CUDA 13), which the tree's cudart 12 is not built to pair with; test/e2e/cudart.test.ts runs it on cudart 13",
};
const HOST_BIN = join(BUILD, 'guest-tree-bin');

const tree = getGuestTree();
const skip = 'skip' in tree ? tree.skip : false;
const root = 'root' in tree ? tree.root : '';

let m: RunningMediator;
let welcome: Welcome;
let logDir: string;

before(async () => {
  if (skip) return;
  logDir = mkdtempSync(join(tmpdir(), 'vgpu-tree-log-'));
  mkdirSync(HOST_BIN, { recursive: true });
  writeFileSync(join(HOST_BIN, 'tiny.gguf'), tinyLlamaGguf().file);
  m = await startMediator();
  const g = await TestGuest.connect(m.socket);
  try {
    welcome = await g.hello();
  } finally {
    g.close();
  }
});

after(async () => {
  await m?.stop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

function report(what: string, r: TreeRun, logFile?: string): string {
  let log = '';
  if (logFile) {
    try {
      log = readFileSync(logFile, 'utf8').split('\n').slice(-120).join('\n');
    } catch {
      log = '(no guest log written)';
    }
  }
  return `${what} exited with ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout.slice(-6000)}\n--- stderr ---\n` +
    `${r.stderr.slice(-6000)}${logFile ? `\n--- guest log (last 120 lines) ---\n${log}` : ''}`;
}

/**
 * Runs a llama.cpp tool in the tree until its log is whole. llama.cpp writes its log through an
 * asynchronous logging thread, and on a loaded machine Debian's build (seen with the tree built on
 * 2026-12-06) exits before that thread has written the last lines: the run returns its normal
 * status with the tail of stderr missing, on its own CPU backend with `--device none` too (3 runs
 * in 10 with `-t 1` while two busy loops loaded both cores; strace shows the main thread's
 * exit_group right after the last line that made it out). A run whose stderr lacks `last` — a
 * line the tool logs at its very end — is repeated, at most twice; a whole run is judged as it is.
 */
async function runWhole(argv: string[], name: string, last: RegExp, env: Record<string, string> = {}, timeoutMs?: number, server = m.server) {
  let res = await run(argv, name, env, timeoutMs, server);
  for (let i = 0; i < 2 && !last.test(res.r.stderr); i++) {
    res = await run(argv, `${name}-again${i + 1}`, env, timeoutMs, server);
  }
  return res;
}

/** A free TCP port on loopback; the tree shares this machine's network namespace. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const completionSchema = z.object({ content: z.string(), tokens: z.array(z.number().int()), tokens_predicted: z.number().int() });

/**
 * Greedy completion of `prompt` by llama-server in the tree, started with `args` and ended after
 * the one request. The server, not llama-completion, because the text comes back in the HTTP
 * answer: llama-completion prints it through the asynchronous log thread that runWhole describes,
 * and on one CI machine it lost all of it (exit status 0, nothing on stdout) in three runs out of
 * three. `ignore_eos` makes every run generate exactly `nPredict` tokens, so equal outputs mean
 * equal logits' argmax at every step.
 */
async function complete(args: string[], prompt: string, nPredict: number, name: string, server = m.server, timeoutMs = 300_000) {
  const port = await freePort();
  const logFile = join(logDir, `${name}.log`);
  const p = startInTree(root, ['llama-server', ...args, '--host', '127.0.0.1', '--port', String(port), '-np', '1', '--no-warmup', '-fit', 'off', '-v'], {
    server,
    env: { VGPU_LOG: 'debug', VGPU_LOG_FILE: logFile },
    binds: [{ host: HOST_BIN, guest: TREE_BIN }, { host: logDir, guest: logDir }],
    libPath: [TREE_LIB],
    timeoutMs,
  });
  let ended: TreeRun | Error | undefined;
  p.done.then((r) => (ended = r), (e: Error) => (ended = e));
  const failed = (why: string): Error => {
    const r = ended instanceof Error || ended === undefined ? { code: null, signal: null, ...p.output() } : ended;
    return new Error(report(`llama-server (${name}) ${why}`, r, logFile));
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    for (;;) {
      if (ended) throw failed('ended before it was ready');
      const ready = await fetch(`${url}/health`).then((res) => res.ok, () => false);
      if (ready) break;
      await sleep(100);
    }
    const res = await fetch(`${url}/completion`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, n_predict: nPredict, temperature: 0, ignore_eos: true, return_tokens: true, cache_prompt: false }),
    });
    const body: unknown = await res.json();
    const c = completionSchema.safeParse(body);
    if (!res.ok || !c.success) throw failed(`answered ${res.status}: ${JSON.stringify(body).slice(0, 2000)}`);
    return { c: c.data, logFile, stderr: () => p.output().stderr };
  } finally {
    p.child.kill('SIGKILL');
    await p.done.catch(() => {});
  }
}

/** Runs argv in the tree with a guest log under logDir (bound into the tree at the same path). */
function run(argv: string[], name: string, env: Record<string, string> = {}, timeoutMs?: number, server = m.server) {
  const logFile = join(logDir, `${name}.log`);
  const p = runInTree(root, argv, {
    server,
    env: { VGPU_LOG: 'debug', VGPU_LOG_FILE: logFile, ...env },
    binds: [{ host: HOST_BIN, guest: TREE_BIN }, { host: logDir, guest: logDir }],
    libPath: [TREE_LIB],
    timeoutMs,
  });
  return p.then((r) => ({ r, logFile }));
}

/**
 * Compiles test/cuda/<name>.cu for sm_75 with PTX (what softgpu runs) against the tree's
 * libcudart.so.12. nvcc 13's host stubs only use entry points cudart 12 has too (the
 * __cudaRegister* family, __cudaPush/PopCallConfiguration, cudaLaunchKernel); the tree's libraries
 * need sid's newer glibc, hence --allow-shlib-undefined when linking them on this host.
 */
function buildForCudart12(name: string): string {
  const bin = join(HOST_BIN, `${name}-cudart12`);
  const src = join(CUDA_TEST_DIR, `${name}.cu`);
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  const tmp = `${bin}.tmp-${process.pid}`;
  execFileSync(NVCC, ['-O1', '-gencode', 'arch=compute_75,code=[sm_75,compute_75]', '-cudart', 'none', '-o', tmp, src,
    `-L${GUEST_LIB_DIR}`, '-lcuda', `-L${join(root, TREE_LIB)}`, '-l:libcudart.so.12', '-Xlinker', '--allow-shlib-undefined',
    '-lpthread'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  renameSync(tmp, bin);
  return bin;
}

describe('Debian guest tree', { skip }, () => {
  test('the tree holds the CUDA 12.4 clients, and vgpu libcuda.so.1 is the one loaded', async () => {
    for (const f of ['usr/bin/llama-cli', `${TREE_LIB.slice(1)}/libcudart.so.12`, `${TREE_LIB.slice(1)}/libcublas.so.12`,
      `${TREE_LIB.slice(1)}/ggml/backends0/libggml-cuda.so`]) {
      assert.ok(existsSync(join(root, f)), `${f} is in the tree`);
    }
    const { r } = await run(['ldd', `${TREE_LIB}/ggml/backends0/libggml-cuda.so`], 'ldd');
    assert.equal(r.code, 0, report('ldd', r));
    assert.match(r.stdout, /libcuda\.so\.1 => \/tmp\/vgpu-guest-lib\/libcuda\.so\.1/, r.stdout);
    assert.match(r.stdout, /libcudart\.so\.12 => \S+libcudart\.so\.12/, r.stdout);
    // The host's softgpu reports VMM, so ggml's buffers live in its VMM pool.
    assert.equal(welcome.devices[0]?.attributes[ATTR_VMM_SUPPORTED], 1);
  });

  test('every driver symbol libggml-cuda.so imports is exported by vgpu libcuda.so.1', () => {
    // The backend is dlopen'ed with RTLD_NOW: one missing name and CUDA silently disappears.
    const names = (file: string, flag: string): string[] =>
      execFileSync('nm', ['-D', flag, file], { encoding: 'utf8' }).split('\n')
        .map((l) => l.trim().split(/\s+/).pop()!.replace(/@.*$/, '')).filter((n) => /^cu[A-Z]/.test(n));
    const wanted = names(join(root, TREE_LIB, 'ggml/backends0/libggml-cuda.so'), '--undefined-only');
    const have = new Set(names(join(GUEST_LIB_DIR, 'libcuda.so.1'), '--defined-only'));
    assert.ok(wanted.includes('cuMemCreate') && wanted.includes('cuDeviceGetAttribute'), wanted.join(' '));
    assert.deepEqual(wanted.filter((n) => !have.has(n)), []);
  });

  test('llama-cli --list-devices shows the vGPU as Ollama parses it', async () => {
    const { r, logFile } = await run(['llama-cli', '--list-devices'], 'list-devices');
    const dev = welcome.devices[0]!;
    const summary = report('llama-cli --list-devices', r, logFile);
    assert.equal(r.code, 0, summary);
    const line = r.stdout.split('\n').find((l) => /^ {2}CUDA0: /.test(l));
    assert.ok(line, summary);
    const mm = /^ {2}CUDA0: (.+) \((\d+) MiB, (\d+) MiB free\)$/.exec(line);
    assert.ok(mm, `unexpected device line '${line}'`);
    assert.equal(mm[1], dev.name);
    assert.equal(Number(mm[2]), Math.floor(dev.totalMem / MIB));
    assert.ok(Number(mm[3]) > 0 && Number(mm[3]) <= Number(mm[2]), line);
    assert.ok(!/^ {2}CUDA1: /m.test(r.stdout), summary);
  });

  test('llama.cpp verbose start-up: ggml_cuda_init finds the vGPU, with VMM', async () => {
    // No model exists in the tree, so the run ends at model loading (exit 1), after the CUDA
    // backend's registration has printed the lines Ollama parses.
    const { r, logFile } = await runWhole(['llama-completion', '-v', '-m', '/nonexistent.gguf', '-n', '1', '-p', 'hi'], 'startup',
      /failed to open GGUF file/);
    const dev = welcome.devices[0]!;
    const summary = report('llama-completion -v', r, logFile);
    assert.match(r.stderr, /failed to open GGUF file '\/nonexistent\.gguf'/, summary);
    const vram = Math.floor(dev.totalMem / MIB);
    assert.match(r.stderr, new RegExp(`ggml_cuda_init: found 1 CUDA devices \\(Total VRAM: ${vram} MiB\\):`), summary);
    const cc = `${dev.attributes[75]}\\.${dev.attributes[76]}`; // COMPUTE_CAPABILITY_MAJOR/MINOR
    assert.match(r.stderr, new RegExp(`  Device 0: ${escapeRe(dev.name)}, compute capability ${cc}, VMM: yes, VRAM: ${vram} MiB`), summary);
    assert.match(r.stderr, /load_backend: loaded CUDA backend from \S+libggml-cuda\.so/, summary);
    assert.doesNotMatch(r.stderr, /failed to initialize CUDA/, summary);
  });

  // The tree's nvidia-smi is 550 (the 535 of test/e2e/nvml.test.ts is older): it finds vgpu's
  // libnvidia-ml.so.1 first on the loader path, and must show what the CUDA side reports.
  test('nvidia-smi 550 reports the vGPU name and memory', async () => {
    const dev = welcome.devices[0]!;
    const { r, logFile } = await run(['nvidia-smi', '--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], 'smi');
    const summary = report('nvidia-smi --query-gpu', r, logFile);
    assert.equal(r.code, 0, summary);
    assert.equal(r.stdout.trim(), `${dev.name}, ${Math.floor(dev.totalMem / MIB)}`, summary);
  });

  // nvidia-smi 550 reads pci.bus_id through nvmlDeviceGetPciInfoExt (NVML 550), nothing else.
  test('nvidia-smi 550 reports the PCI bus id', async () => {
    const dev = welcome.devices[0]!;
    const { r, logFile } = await run(['nvidia-smi', '--query-gpu=pci.bus_id', '--format=csv,noheader'], 'smi-pci');
    const hex = (v: number, n: number): string => v.toString(16).toUpperCase().padStart(n, '0');
    assert.equal(r.stdout.trim(), `${hex(dev.pciDomain, 8)}:${hex(dev.pciBus, 2)}:${hex(dev.pciDevice, 2)}.0`, report('nvidia-smi pci.bus_id', r, logFile));
  });

  // A real forward pass: a tiny 1-layer llama (test/helpers/guest-tree.ts), greedy decoding of 8
  // tokens, once on llama.cpp's CPU backend and once with every layer on the vGPU. One token per
  // ubatch keeps ggml on its own kernels (mul_mat_vec), away from cuBLAS. The outputs must agree.
  // Every module of libggml-cuda must load on softgpu for this (%envreg in softmax.cu's module,
  // bar.red in many, 8-register wmma fragments in one).
  test('llama.cpp generates the same tokens on the vGPU as on the CPU', async () => {
    const args = ['-m', `${TREE_BIN}/tiny.gguf`, '-c', '64', '-ub', '1', '-b', '8', '-fa', 'off'];
    const cpu = await complete([...args, '--device', 'none', '-ngl', '0'], 'hello', 8, 'llama-cpu');
    assert.equal(cpu.c.tokens.length, 8, JSON.stringify(cpu.c));
    const gpu = await complete([...args, '-ngl', '99'], 'hello', 8, 'llama-gpu');
    const summary = `CPU ${JSON.stringify(cpu.c.tokens)}, vGPU ${JSON.stringify(gpu.c.tokens)}\n${gpu.stderr().slice(-6000)}`;
    assert.match(gpu.stderr(), /CUDA0 compute buffer size/, summary);
    // The guest library's trace (written as each call returns) shows the forward pass ran there.
    assert.match(readFileSync(gpu.logFile, 'utf8'), / debug: cuLaunchKernel\(f=0x[0-9a-f]+, gridDimX=\d+, .*\) -> CUDA_SUCCESS /, summary);
    assert.deepEqual(gpu.c.tokens, cpu.c.tokens, summary);
  });

  // Prompt processing in 32-token ubatches of a Q8_0 copy of the model (made by the tree's
  // llama-quantize): ggml's quantized matrix products go through its mmq kernels (int8 mma.sync,
  // ldmatrix, cp.async) and attention through cuBLAS, on softgpu's default identity (compute
  // capability 12.0), where cuBLAS 12.4 runs its PTX kernels (see the cuBLAS tests below): what a
  // user gets out of the box, since ggml aborts the process on any CUDA error. Same tokens as the CPU's.
  test('llama.cpp with 32-token ubatches (tensor-core mmq, cuBLAS) generates the same tokens as on the CPU', async () => {
    const quant = await run(['llama-quantize', `${TREE_BIN}/tiny.gguf`, `${TREE_BIN}/tiny-q8_0.gguf`, 'q8_0'], 'quantize');
    assert.equal(quant.r.code, 0, report('llama-quantize', quant.r));
    const args = ['-m', `${TREE_BIN}/tiny-q8_0.gguf`, '-ub', '32', '-b', '32', '-c', '128', '-fa', 'off'];
    const prompt = 'hello world, this prompt is long enough for two ubatches';
    const cpu = await complete([...args, '--device', 'none', '-ngl', '0'], prompt, 8, 'llama-pp-cpu');
    assert.equal(cpu.c.tokens.length, 8, JSON.stringify(cpu.c));
    const gpu = await complete([...args, '-ngl', '99'], prompt, 8, 'llama-pp-gpu');
    const summary = `CPU ${JSON.stringify(cpu.c.tokens)}, vGPU ${JSON.stringify(gpu.c.tokens)}\n${gpu.stderr().slice(-6000)}`;
    assert.match(gpu.stderr(), /n_ubatch\s*=\s*32/, summary);
    assert.match(readFileSync(gpu.logFile, 'utf8'), / debug: cuLaunchKernel\(f=0x[0-9a-f]+, gridDimX=\d+, .*\) -> CUDA_SUCCESS /, summary);
    assert.deepEqual(gpu.c.tokens, cpu.c.tokens, summary);
  });

  // cuBLAS 12.4 carries SASS for sm_50..sm_90 but PTX only for compute_90, and softgpu runs only
  // PTX, so these tests need a softgpu device of compute capability 9.0 or above. cublasCreate probes
  // thread-block clusters (cuFuncSetAttribute NON_PORTABLE_CLUSTER_SIZE_ALLOWED=1, then
  // cuOccupancyMaxActiveClusters, answered 0: softgpu launches no clusters) and must succeed.
  const cublasRun = async (cc = '9.0'): Promise<{ stdout: string; summary: string; code: number | null }> => {
    const bin = join(HOST_BIN, 'cublas_sgemm');
    const src = join(ROOT, 'test/guest-tree/cublas_sgemm.c');
    if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
      execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-O1', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter', '-o', bin,
        src, '-ldl', '-lm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    }
    const hopper = await startMediator(cc ? { env: { VGPU_SOFTGPU_CC: cc } } : {});
    try {
      const { r, logFile } = await run([`${TREE_BIN}/cublas_sgemm`], 'cublas', {}, 300_000, hopper.server);
      return { stdout: r.stdout, summary: report('cublas_sgemm', r, logFile), code: r.code };
    } finally {
      await hopper.stop();
    }
  };

  test('cuBLAS 12: cublasCreate succeeds through vgpu (softgpu as compute capability 9.0)', async () => {
    const { stdout, summary } = await cublasRun();
    assert.match(stdout, /^# cudart version 12\d{3}$/m, summary);
    assert.match(stdout, /^ok - cublasCreate$/m, summary);
    assert.match(stdout, /^# cublas version 12\d{3,4}$/m, summary);
    assert.match(stdout, /^ok - cublasDestroy$/m, summary);
  });

  // On a 9.0 device cuBLAS 12.4 runs its Hopper kernels, which libcublasLt ships as sm_90 machine
  // code only (its first cuLibraryLoadData gets CUDA_ERROR_NO_BINARY_FOR_GPU on softgpu, and
  // cublasSgemm returns CUBLAS_STATUS_EXECUTION_FAILED). On a device newer than any it has machine
  // code for — softgpu's default 12.0, and 10.0 — cuBLAS takes the kernels it ships as compute_90
  // PTX, which is what softgpu runs.
  for (const cc of ['', '10.0']) {
    test(`cuBLAS 12: checked SGEMM, HGEMM and batched GEMMs (softgpu ${cc ? `as compute capability ${cc}` : 'at its default identity, 12.0'}: cuBLAS takes its PTX kernels)`, async () => {
      const { stdout, summary, code } = await cublasRun(cc);
      assert.match(stdout, /^ok - C = alpha\*A\*B \+ beta\*C$/m, summary);
      assert.match(stdout, /^ok - batched C\[i\] = alpha\*A\[i\]\*B\[i\] \+ beta\*C\[i\]$/m, summary);
      assert.match(stdout, /^ok - strided batched C\[i\] = alpha\*A\[i\]\*B\[i\] \+ beta\*C\[i\]$/m, summary);
      assert.match(stdout, /^ok - half C = alpha\*A\*B \+ beta\*C$/m, summary);
      assert.match(stdout, /^# \d+ checks, 0 failed$/m, summary);
      assert.equal(code, 0, summary);
    });
  }

  // Every test/cuda program, built by this machine's nvcc for sm_75 (+ PTX) and linked against the
  // tree's libcudart.so.12 instead of the toolkit's runtime.
  describe('cudart 12.4 runs the test/cuda programs', { skip: nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)' }, () => {
    for (const name of skip ? [] : cudaPrograms()) {
      test(name, { skip: CUDART13_ONLY[name] ?? false }, async () => {
        buildForCudart12(name);
        const { r, logFile } = await run([`${TREE_BIN}/${name}-cudart12`], `cudart12-${name}`);
        const summary = report(`${name} (cudart 12)`, r, logFile);
        assert.match(r.stdout, /^# \d+ checks, 0 failed$/m, summary);
        assert.equal(r.code, 0, summary);
        // cudart 12 went through the dark API and its integrity check on this library.
        const log = readFileSync(logFile, 'utf8');
        assert.match(log, /cuGetExportTable: INTEGRITY_CHECK at /, summary);
        assert.match(log, / debug: integrity_check -> CUDA_SUCCESS /, summary);
      });
    }

    // (cudart dlopens libcuda.so.1 itself; that it got vgpu's shows in the guest logs checked above.)
    test('the programs load the tree\'s libcudart.so.12, not the toolkit\'s runtime', async () => {
      buildForCudart12('vector_add');
      const { r } = await run(['ldd', `${TREE_BIN}/vector_add-cudart12`], 'ldd-cudart12');
      assert.equal(r.code, 0, report('ldd', r));
      assert.match(r.stdout, new RegExp(`libcudart\\.so\\.12 => ${TREE_LIB}/libcudart\\.so\\.12 `), r.stdout);
      assert.doesNotMatch(r.stdout, /libcudart\.so\.13/, r.stdout);
    });
  });
});

test('an unreachable Debian mirror makes the guest tree a skip, with the reason', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-tree-cache-'));
  const saved = { cache: process.env.VGPU_CACHE_DIR, mirror: process.env.VGPU_DEBIAN_MIRROR };
  process.env.VGPU_CACHE_DIR = dir;
  process.env.VGPU_DEBIAN_MIRROR = 'http://127.0.0.1:9/debian'; // the discard port: refused at once
  try {
    const t = getGuestTree();
    assert.ok('skip' in t, JSON.stringify(t));
    assert.match(t.skip, /mirror http:\/\/127\.0\.0\.1:9\/debian cannot be reached/);
  } finally {
    if (saved.cache === undefined) delete process.env.VGPU_CACHE_DIR;
    else process.env.VGPU_CACHE_DIR = saved.cache;
    if (saved.mirror === undefined) delete process.env.VGPU_DEBIAN_MIRROR;
    else process.env.VGPU_DEBIAN_MIRROR = saved.mirror;
    rmSync(dir, { recursive: true, force: true });
  }
});

// Needs no guest tree: cudart's cudaLaunchCooperativeKernel ends in cuLaunchCooperativeKernel,
// which vgpu sends as cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_COOPERATIVE.
test('cuLaunchCooperativeKernel agrees with CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH', async () => {
  const bin = join(HOST_BIN, 'coop_launch');
  const src = join(ROOT, 'test/guest-tree/coop_launch.c');
  mkdirSync(HOST_BIN, { recursive: true });
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-O1', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter',
      `-I${join(process.env.CUDA_HOME ?? '/usr/local/cuda', 'include')}`, '-o', bin, src, `-L${GUEST_LIB_DIR}`, '-lcuda'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const med = await startMediator();
  try {
    const r = spawnSync(bin, [], {
      encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_SERVER: med.server, VGPU_LOG: 'debug' },
    });
    const summary = `exit ${r.status}\n${r.stdout}\n${r.stderr.slice(-4000)}`;
    assert.match(r.stdout, /^# \d+ checks, 0 failed$/m, summary);
    assert.equal(r.status, 0, summary);
    // Answered by the launch path, not by the "unsupported" stub.
    assert.match(r.stderr, / debug: cuLaunchCooperativeKernel(\(.*\))? -> /, summary);
    assert.doesNotMatch(r.stderr, /cuLaunchCooperativeKernel is not supported by vgpu/, summary);
  } finally {
    await med.stop();
  }
});
