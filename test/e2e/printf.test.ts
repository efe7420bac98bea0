// Kernel printf reaches the guest program's own stdout (docs/protocol.md, "Notices"): at CUDA's
// flush points, in order with the program's own output, exactly as softgpu prints it when the
// program runs on it in-process, and never in the host's log or on the mediator's stdout.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildCudaProgram, nvccAvailable, printfFatbin, runCudaProgram } from '../helpers/nvcc.js';
import { BUILD } from '../helpers/paths.js';
import { buildProgram, runGuest, type RunResult } from '../helpers/programs.js';

const skip = nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)';

/** What test/cuda/printf.cu prints: kernel lines inside the call that flushes them. */
const CUDART_EXPECTED = `ok - cudaMalloc
# before the launch
# launched, not synchronized
kernel 1: thread 0 of 3
kernel 1: thread 1 of 3
kernel 1: thread 2 of 3
ok - synchronize
kernel 2: thread 0 of 2
kernel 2: thread 1 of 2
ok - blocking copy
kernel 3: thread 0 of 1
ok - stream synchronize
kernel 4: thread 0 of 1
ok - device reset
# 5 checks, 0 failed
`;

/** What test/programs/printf.c prints. */
const DRIVER_EXPECTED = `# before the launch
# launched; an asynchronous copy and a query do not print
# cuCtxSynchronize
kernel 1: thread 0 of 3
kernel 1: thread 1 of 3
kernel 1: thread 2 of 3
# cuStreamSynchronize
kernel 2: thread 0 of 2
kernel 2: thread 1 of 2
# cuMemcpyDtoH
kernel 3: thread 0 of 1
# cuModuleUnload
kernel 4: thread 0 of 1
# cuCtxDestroy
kernel 5: thread 0 of 1
# cuCtxSynchronize after a failed assert
kernel 6: thread 0 of 1
# done, 0 failures
`;

const ASSERT_MESSAGE = /printf\.cu:10: void insist\(int\): block \[0,0,0\], thread \[0,0,0\] Assertion `n < 100` failed\./;

let m: RunningMediator;
before(async () => {
  m = await startMediator();
});
after(async () => {
  await m?.stop();
});

/** Neither the mediator's log nor its stdout (where executors used to print) holds kernel text. */
function assertNotInHost(): void {
  for (const l of m.logs) assert.doesNotMatch(JSON.stringify(l), /kernel \d: thread|Assertion `n < 100`/, 'kernel output in the host log');
  assert.doesNotMatch(m.stdout(), /kernel \d: thread|Assertion/, 'kernel output on the mediator\'s stdout');
}

test('a CUDA program\'s kernel printf appears on its own stdout when it synchronizes, never in the host\'s log', { skip }, async () => {
  const prog = buildCudaProgram('printf', 'static');
  const r = await runCudaProgram(prog, 'static', m.server);
  assert.equal(r.stdout, CUDART_EXPECTED, `stderr:\n${r.stderr}`);
  assert.equal(r.code, 0);
  assertNotInHost();
});

/** Runs a driver-API program on softgpu itself, as its libcuda.so.1. */
function runInProcess(prog: string, args: string[]): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-inproc-'));
  symlinkSync(join(BUILD, 'softgpu', 'libvgpu-softgpu.so'), join(dir, 'libcuda.so.1'));
  return new Promise((resolve, reject) => {
    const p = spawn(prog, args, { env: { ...process.env, LD_LIBRARY_PATH: dir, VGPU_SOFTGPU_MEMORY: '1G' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

test('through vgpu a driver-API program prints exactly what it prints on softgpu in-process', { skip }, async () => {
  const fatbin = printfFatbin();
  const prog = buildProgram('printf');
  const local = await runInProcess(prog, [fatbin]);
  assert.equal(local.stdout, DRIVER_EXPECTED, `in-process stderr:\n${local.stderr}`);
  assert.match(local.stderr, ASSERT_MESSAGE);
  const remote = await runGuest(prog, ['--server', m.server], {}, 120_000, [fatbin]);
  assert.equal(remote.stdout, local.stdout, `stderr:\n${remote.stderr}`);
  assert.match(remote.stderr, ASSERT_MESSAGE);
  assert.equal(remote.code, 0);
  assertNotInHost();
});
