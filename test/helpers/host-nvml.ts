// The fake host NVML (test/fixtures/fake-host-nvml.c) that VGPU_HOST_NVML points a softgpu
// mediator at, so board readings (temperature, power, clocks) come from "the host" as on a GPU.

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
