// Modules and kernel launches through the driver API: a C program (test/programs/launch.c) loads
// nvcc-built images through vgpu's libcuda.so.1 and runs kernels on softgpu, checking results.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';
import { BUILD, ROOT } from '../helpers/paths.js';

const NVCC = join(process.env.CUDA_HOME ?? '/usr/local/cuda', 'bin', 'nvcc');

/** Builds the kernel images with nvcc (cached by source time). */
function images(): { fatbin: string; ptx: string; cubin: string } {
  const src = join(ROOT, 'test/programs/kernels.cu');
  const dir = join(BUILD, 'test-programs');
  mkdirSync(dir, { recursive: true });
  const out = { fatbin: join(dir, 'kernels.fatbin'), ptx: join(dir, 'kernels.ptx'), cubin: join(dir, 'kernels.cubin') };
  for (const [kind, file] of Object.entries(out)) {
    if (!existsSync(file) || statSync(file).mtimeMs < statSync(src).mtimeMs) {
      execFileSync(NVCC, [`-${kind}`, '-o', file, src], { stdio: 'inherit' });
    }
  }
  return out;
}

let m: RunningMediator;
before(async () => {
  m = await startMediator();
});
after(async () => {
  await m?.stop();
});

test('modules, lookups, parameter layouts, launches, globals and sticky errors', async () => {
  const img = images();
  const prog = buildProgram('launch');
  const r = await runGuest(prog, ['--server', m.server], {}, 180_000, [img.fatbin, img.ptx, img.cubin]);
  const bad = r.stdout.split('\n').filter((l) => l.startsWith('not ok'));
  assert.deepEqual(bad, [], `${bad.join('\n')}\nstderr:\n${r.stderr.slice(-3000)}`);
  assert.ok(r.stdout.split('\n').filter((l) => l.startsWith('ok - ')).length >= 60, r.stdout);
  assert.equal(r.code, 0);
});

test('an image crosses the connection once per VM: a second process of the VM sends only its hash', async () => {
  const img = images();
  const prog = buildProgram('launch');
  const dir = join(m.stateDir, 'images', 'vms', 'local');
  const before = existsSync(dir) ? readdirSync(dir).length : 0;
  assert.ok(before >= 2, 'the first run stored the fatbin and the PTX');
  const r = await runGuest(prog, ['--server', m.server], { VGPU_LOG: 'debug' }, 180_000, [img.fatbin, img.ptx, img.cubin]);
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stderr, /vgImageHave/);
  assert.doesNotMatch(r.stderr, /vgImagePut/, 'no image was uploaded again');
  assert.equal(readdirSync(dir).length, before);
});

test('stream capture and graphs: capture, replay, update, misuse', async () => {
  const img = images();
  const prog = buildProgram('graph');
  const r = await runGuest(prog, ['--server', m.server], {}, 180_000, [img.fatbin]);
  const bad = r.stdout.split('\n').filter((l) => l.startsWith('not ok'));
  assert.deepEqual(bad, [], `${bad.join('\n')}\nstderr:\n${r.stderr.slice(-3000)}`);
  assert.ok(r.stdout.split('\n').filter((l) => l.startsWith('ok - ')).length >= 30, r.stdout);
  assert.equal(r.code, 0);
});
