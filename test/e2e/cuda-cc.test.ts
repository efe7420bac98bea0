// The programs of test/cuda-cc (CCCL's device-wide algorithms, cuda_fp16.h/cuda_bf16.h math,
// cooperative groups, relocatable device code) through vgpu on softgpu at every compute
// capability softgpu is run at in practice, from the oldest nvcc 13 builds for (7.5) to the newest
// (12.1). Most carry PTX for five virtual architectures, so each capability loads the newest one
// it can run and the libraries' per-architecture code paths (cub's tuning policies, native
// f16/bf16 instructions, redux.sync) all run; each checks its results against the CPU's.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import {
  CUDA_CC_TEST_DIR, CUDA_TEST_DIR, buildCudaProgram, cudaPrograms, nvccAvailable, runCudaProgram,
} from '../helpers/nvcc.js';

/** Compute capabilities of the GPUs nvcc 13 builds for, one per architecture generation it tunes
 * CCCL for, softgpu's default (12.0), and 12.1, the newest libcudadevrt ships PTX for. */
const CAPABILITIES = ['7.5', '8.0', '8.6', '8.9', '9.0', '10.0', '12.0', '12.1'] as const;

const skip = !nvccAvailable() ? 'nvcc not found (set CUDA_HOME)' : false;

/** Programs of test/cuda that run here too: device-side launches are refused as a driver refuses
 * them at every capability, whichever PTX of the device runtime the image carries. */
const FROM_TEST_CUDA = ['dynamic_parallelism'];

describe('CUDA programs at every compute capability', { skip }, () => {
  const programs = skip ? [] : [...cudaPrograms(CUDA_CC_TEST_DIR), ...FROM_TEST_CUDA];
  const built = new Map<string, string>();
  let m: RunningMediator | undefined;

  after(async () => {
    await m?.stop();
  });

  test('the programs build', { timeout: 1_800_000 }, () => {
    assert.ok(programs.length >= 5, 'test/cuda-cc has its programs');
    for (const name of programs) {
      built.set(name, buildCudaProgram(name, 'static', FROM_TEST_CUDA.includes(name) ? CUDA_TEST_DIR : CUDA_CC_TEST_DIR));
    }
  });

  for (const cc of CAPABILITIES) {
    test(`compute capability ${cc}`, { timeout: 600_000 }, async () => {
      await m?.stop();
      m = await startMediator({ env: { VGPU_SOFTGPU_CC: cc } });
      for (const name of programs) {
        const prog = built.get(name);
        assert.ok(prog, `${name} was built`);
        const out = await runCudaProgram(prog, 'static', m.server);
        const failed = out.stdout.split('\n').filter((l) => l.startsWith('not ok'));
        assert.equal(out.code, 0, `${name} at ${cc}: exit ${out.code ?? out.signal}\n${failed.join('\n')}\n${out.stderr.slice(-2000)}`);
        assert.match(out.stdout, new RegExp(`^# compute capability ${cc.replace('.', '\\.')}$`, 'm'), `${name} ran at ${cc}`);
      }
    });
  }
});
