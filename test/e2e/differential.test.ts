// The differential suite (docs/testing.md): the same driver-API programs (test/differential) and
// cudart program (test/cuda/launch_config.cu) run
//   (a) on softgpu in-process (libcuda.so.1 is softgpu itself),
//   (b) through vgpu on softgpu (the guest libcuda.so.1, via bin/vgpu-run, and a mediator),
//   (c) through vgpu on NVIDIA's driver, and
//   (d) on NVIDIA's driver in-process, when the mediator's cuda backend finds a GPU,
// and their outputs, every CUresult included, must be identical. Every hand-written driver
// function must have a case.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';

import { backendPath } from '../../src/executor/driver.js';
import { chooseBackend, probeFailureReason } from '../../src/mediator/backend.js';
import {
  DIFF_CUDART_PROGRAM, DIFF_PROGRAMS, buildDiffProgram, diffKernels, difference, driverDir, functionsWithCases,
  handWrittenFunctions, resultLines, runInProcess, type DiffProgram, type ProgramRun,
} from '../helpers/differential.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildCudaProgram, nvccAvailable, runCudaProgram, type CudartFlavour } from '../helpers/nvcc.js';
import { runGuest } from '../helpers/programs.js';

/** softgpu's device memory, in-process and behind the mediator (test/helpers/mediator.ts). */
const SOFTGPU_ENV = { VGPU_SOFTGPU_MEMORY: '2G' };
const CUDA_LIB = join(process.env.CUDA_HOME ?? '/usr/local/cuda', 'lib64');
const CUDART_FLAVOURS: readonly CudartFlavour[] = ['static', 'shared'];

const noNvcc = nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)';

let onSoftgpu: RunningMediator;
let softgpuDir: string;
let kernels: string;
/** vgpu on NVIDIA's driver and that driver's folder, or why there is none here. */
let gpu: { m: RunningMediator; dir: string } | { skip: string };
/** Runs through vgpu on softgpu, by program: compared with the GPU's, and checked for coverage. */
const onSoftgpuRuns = new Map<string, ProgramRun>();

before(async () => {
  if (noNvcc) return;
  kernels = diffKernels();
  for (const p of DIFF_PROGRAMS) buildDiffProgram(p.name);
  const sg = backendPath('softgpu');
  if (!sg) throw new Error('softgpu is not built (make native)');
  softgpuDir = driverDir(sg);
  onSoftgpu = await startMediator({ http: false });
  // The mediator's own backend detection decides whether there is a GPU to compare with.
  try {
    const b = await chooseBackend('cuda', pino({ enabled: false }));
    gpu = { m: await startMediator({ http: false, backend: 'cuda' }), dir: driverDir(b.path) };
  } catch (e) {
    gpu = { skip: `no NVIDIA GPU to compare with (the mediator's cuda backend: ${probeFailureReason(e as Error)})` };
  }
});

after(async () => {
  await onSoftgpu?.stop();
  if (gpu && 'm' in gpu) {
    await gpu.m.stop();
    rmSync(gpu.dir, { recursive: true, force: true });
  }
  if (softgpuDir) rmSync(softgpuDir, { recursive: true, force: true });
});

function describeRun(what: string, r: ProgramRun): string {
  return `${what} exited with ${r.code ?? r.signal}\n--- stdout (last 40 lines) ---\n` +
    `${r.stdout.split('\n').slice(-40).join('\n')}\n--- stderr ---\n${r.stderr.slice(-3000)}`;
}

function assertRan(what: string, r: ProgramRun): void {
  assert.equal(r.code, 0, describeRun(what, r));
}

function assertSame(aName: string, a: ProgramRun, bName: string, b: ProgramRun): void {
  const d = difference(aName, resultLines(a.stdout), bName, resultLines(b.stdout));
  assert.equal(d, undefined, d);
}

function progArgs(p: DiffProgram): string[] {
  return p.kernels ? [kernels] : [];
}

describe('differential: driver-API programs', { skip: noNvcc }, () => {
  for (const p of DIFF_PROGRAMS) {
    test(`${p.name}: softgpu in-process and vgpu on softgpu agree`, async (t) => {
      const prog = buildDiffProgram(p.name);
      const b = await runGuest(prog, ['--server', onSoftgpu.server], {}, 120_000, progArgs(p));
      assertRan(`${p.name} through vgpu on softgpu`, b);
      onSoftgpuRuns.set(p.name, b);
      if (p.notOnSoftgpu) {
        t.skip(`not run on softgpu in-process: ${p.notOnSoftgpu}`);
        return;
      }
      const a = await runInProcess(prog, progArgs(p), [softgpuDir], SOFTGPU_ENV);
      assertRan(`${p.name} on softgpu in-process`, a);
      assertSame('softgpu in-process', a, 'vgpu on softgpu', b);
    });

    test(`${p.name}: vgpu on NVIDIA's driver agrees with vgpu on softgpu and with the driver in-process`, async (t) => {
      if ('skip' in gpu) {
        t.skip(gpu.skip);
        return;
      }
      const b = onSoftgpuRuns.get(p.name);
      assert.ok(b, 'the run through vgpu on softgpu worked (see its failure above)');
      const prog = buildDiffProgram(p.name);
      const c = await runGuest(prog, ['--server', gpu.m.server], {}, 120_000, progArgs(p));
      const d = await runInProcess(prog, progArgs(p), [gpu.dir]);
      assertRan(`${p.name} through vgpu on NVIDIA's driver`, c);
      assertRan(`${p.name} on NVIDIA's driver in-process`, d);
      assertSame('vgpu on softgpu', b, "vgpu on NVIDIA's driver", c);
      assertSame("vgpu on NVIDIA's driver", c, "NVIDIA's driver in-process", d);
    });
  }

  test('every hand-written driver function has a differential case', () => {
    const want = handWrittenFunctions();
    // The scan itself must find what it is for, or this check would pass by finding nothing.
    for (const f of ['cuLaunchKernel', 'cuCtxCreate', 'cuDeviceGetName', 'cuMemcpyHtoDAsync_v2_ptsz']) {
      assert.ok(want.has(f), `the scan of spec/ and the hand-written sources misses ${f}`);
    }
    const missingRuns = DIFF_PROGRAMS.filter((p) => !onSoftgpuRuns.has(p.name)).map((p) => p.name);
    assert.deepEqual(missingRuns, [], 'programs that did not run through vgpu (see their failures above)');
    const have = functionsWithCases([...onSoftgpuRuns.values()].map((r) => r.stdout));
    const missing = [...want].filter((f) => !have.has(f)).sort();
    assert.deepEqual(missing, [], `hand-written functions without a case in test/differential (docs/testing.md): ${missing.join(', ')}`);
  });
});

describe(`differential: cudart program ${DIFF_CUDART_PROGRAM}`, { skip: noNvcc }, () => {
  const runs = new Map<CudartFlavour, ProgramRun>();
  for (const flavour of CUDART_FLAVOURS) {
    test(`${flavour} cudart through vgpu on softgpu (softgpu in-process cannot run cudart: it has no cuGetProcAddress)`, async () => {
      const prog = buildCudaProgram(DIFF_CUDART_PROGRAM, flavour);
      const b = await runCudaProgram(prog, flavour, onSoftgpu.server);
      assertRan(`${DIFF_CUDART_PROGRAM} (${flavour}) through vgpu on softgpu`, b);
      runs.set(flavour, b);
    });

    test(`${flavour} cudart: vgpu on NVIDIA's driver agrees with vgpu on softgpu and with the driver in-process`, async (t) => {
      if ('skip' in gpu) {
        t.skip(gpu.skip);
        return;
      }
      const b = runs.get(flavour);
      assert.ok(b, 'the run through vgpu on softgpu worked (see its failure above)');
      const prog = buildCudaProgram(DIFF_CUDART_PROGRAM, flavour);
      const c = await runCudaProgram(prog, flavour, gpu.m.server);
      const d = await runInProcess(prog, [], flavour === 'shared' ? [gpu.dir, CUDA_LIB] : [gpu.dir]);
      assertRan(`${DIFF_CUDART_PROGRAM} (${flavour}) through vgpu on NVIDIA's driver`, c);
      assertRan(`${DIFF_CUDART_PROGRAM} (${flavour}) on NVIDIA's driver in-process`, d);
      assertSame('vgpu on softgpu', b, "vgpu on NVIDIA's driver", c);
      assertSame("vgpu on NVIDIA's driver", c, "NVIDIA's driver in-process", d);
    });
  }

  test('the static and the shared runtime give the same output', () => {
    const s = runs.get('static');
    const sh = runs.get('shared');
    assert.ok(s && sh, 'both builds ran (see their failures above)');
    assertSame('static cudart', s, 'shared cudart', sh);
  });
});
