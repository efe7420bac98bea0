// Builds test/fixtures/fake-host-nvml.c, the stand-in for the host's libnvidia-ml.so.1 that the
// mediator loads through VGPU_HOST_NVML (no GPU on the test machines).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { BUILD, ROOT } from './paths.js';

export function buildFakeNvml(): string {
  const src = join(ROOT, 'test/fixtures/fake-host-nvml.c');
  const out = join(BUILD, 'test-programs', 'libfake-host-nvml.so');
  mkdirSync(join(BUILD, 'test-programs'), { recursive: true });
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-std=c11', '-O1', '-g', '-Wall', '-Wextra', '-Werror', '-fPIC', '-shared', '-fvisibility=hidden', '-o', out, src],
      { stdio: 'inherit' });
  }
  return out;
}
