// Peer access between two vGPUs of one session (docs/pointers.md, "Peer access"): a VM with two
// vGPUs on softgpu with two devices runs test/differential/peer.c through vgpu, and its output must
// equal softgpu's in-process with two devices (the differential suite's rule, docs/testing.md):
// the peer queries, enabling and disabling access, a kernel reading the other device's memory, and
// linear and 3D copies between the devices.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { backendPath } from '../../src/executor/driver.js';
import {
  buildDiffProgram, diffKernels, difference, driverDir, resultLines, runInProcess, type ProgramRun,
} from '../helpers/differential.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { nvccAvailable } from '../helpers/nvcc.js';
import { BIN } from '../helpers/paths.js';
import { runGuest } from '../helpers/programs.js';

const SOFTGPU_ENV = { VGPU_SOFTGPU_DEVICES: '2', VGPU_SOFTGPU_MEMORY: '2G' };

let m: RunningMediator;
let softgpuDir: string;

const skip = nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)';

before(async () => {
  if (skip) return;
  m = await startMediator({ http: false, env: SOFTGPU_ENV });
  const sg = backendPath('softgpu');
  if (!sg) throw new Error('softgpu is not built (make native)');
  softgpuDir = driverDir(sg);
});

after(async () => {
  await m?.stop();
  if (softgpuDir) rmSync(softgpuDir, { recursive: true, force: true });
});

function admin(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(join(BIN, 'vgpu-admin'), [...args, '--state-dir', m.stateDir], { encoding: 'utf8' },
      (err, stdout, stderr) => (err ? reject(new Error(`vgpu-admin ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
  });
}

function describeRun(what: string, r: ProgramRun): string {
  return `${what} exited with ${r.code ?? r.signal}\n--- stdout (last 40 lines) ---\n` +
    `${r.stdout.split('\n').slice(-40).join('\n')}\n--- stderr ---\n${r.stderr.slice(-3000)}`;
}

test('two vGPUs of a session are peers, as two softgpu devices in one process are', { skip }, async () => {
  const prog = buildDiffProgram('peer');
  const kernels = diffKernels();
  const token = (await admin('vm', 'add', 'pair', '--vgpus', '2', '--print-token')).trim().split('\n').at(-1)!;
  const b = await runGuest(prog, ['--server', m.server, '--token', token], {}, 120_000, [kernels]);
  assert.equal(b.code, 0, describeRun('peer through vgpu', b));
  const a = await runInProcess(prog, [kernels], [softgpuDir], SOFTGPU_ENV);
  assert.equal(a.code, 0, describeRun('peer on softgpu in-process', a));
  // The program checks its own data too: every peer read and copy must have arrived.
  assert.match(a.stdout, /^cuLaunchKernel the kernel read the peer's memory: 1$/m);
  assert.match(a.stdout, /^cuMemcpy3DPeer device 1 to device 0: 1$/m);
  const d = difference('softgpu in-process', resultLines(a.stdout), 'vgpu on softgpu', resultLines(b.stdout));
  assert.equal(d, undefined, d);
});
