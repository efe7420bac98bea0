// thrust and cub at every compute capability softgpu offers, from one binary that carries PTX for
// two architectures (compute_89 and compute_90): the build that once sorted wrongly with no error
// at 8.9, when softgpu answered cudaFuncGetAttributes().ptxVersion with the PTX ISA version (90
// for both) instead of the architecture of the code that runs. cudart picks compute_89 on 8.9 and
// compute_90 from 9.0 up; test/cuda/thrust_cub.cu checks ptxVersion against __CUDA_ARCH__ and every
// result against the CPU's.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { startMediator } from '../helpers/mediator.js';
import { CUDA_TEST_DIR, NVCC, nvccAvailable, runCudaProgram } from '../helpers/nvcc.js';
import { BUILD, GUEST_LIB_DIR } from '../helpers/paths.js';

const OUT = join(BUILD, 'cuda-tests', 'thrust_cub-ptx89-90');

function build(): string {
  const src = join(CUDA_TEST_DIR, 'thrust_cub.cu');
  if (existsSync(OUT) && statSync(OUT).mtimeMs >= Math.max(statSync(src).mtimeMs, statSync(join(CUDA_TEST_DIR, 'check.h')).mtimeMs)) return OUT;
  mkdirSync(join(BUILD, 'cuda-tests'), { recursive: true });
  const tmp = `${OUT}.tmp-${process.pid}`;
  execFileSync(NVCC, ['-O1', '-gencode', 'arch=compute_89,code=compute_89', '-gencode', 'arch=compute_90,code=compute_90',
    '-o', tmp, src, `-L${GUEST_LIB_DIR}`, '-lcuda', '-lpthread'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  renameSync(tmp, OUT);
  return OUT;
}

describe('thrust and cub at every compute capability softgpu offers', { skip: nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)' }, () => {
  for (const [cc, arch] of [['8.9', 890], ['9.0', 900], ['10.0', 900], ['12.0', 900]] as const) {
    test(`compute capability ${cc}: the compute_${arch / 10} PTX runs, and sorts, reduces and scans as the CPU does`, async () => {
      const prog = build();
      const m = await startMediator({ env: { VGPU_SOFTGPU_CC: cc } });
      try {
        const r = await runCudaProgram(prog, 'static', m.server, {}, 300_000);
        const summary = `exit ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr.slice(-3000)}`;
        assert.match(r.stdout, new RegExp(`^# __CUDA_ARCH__ ${arch}, ptxVersion ${arch / 10},`, 'm'), summary);
        assert.match(r.stdout, /^# \d+ checks, 0 failed$/m, summary);
        assert.equal(r.code, 0, summary);
      } finally {
        await m.stop();
      }
    });
  }
});
