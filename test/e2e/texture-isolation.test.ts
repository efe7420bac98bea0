// Texture objects reach kernels as bare 64-bit values the executor cannot translate
// (docs/security.md): a session that launches a kernel with another session's texture value must
// get an error, never the other session's texels. And CUDA arrays are device memory: they count
// toward the VM's quota like allocations.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { BIN } from '../helpers/paths.js';
import { buildProgram, kernelsFatbin, startGuest } from '../helpers/programs.js';
import { nvccAvailable } from '../helpers/nvcc.js';

const CUDA_ERROR_OUT_OF_MEMORY = 2;
const CUDA_ERROR_ILLEGAL_ADDRESS = 700;

let m: RunningMediator;
let prog: string;

before(async () => {
  m = await startMediator({ env: { VGPU_SOFTGPU_MEMORY: '2G' } });
  prog = buildProgram('texture_probe');
});
after(async () => {
  await m?.stop();
});

function addVm(...args: string[]): string {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', ...args, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
  return out.trim().split('\n').at(-1)!;
}

test("a kernel given another session's texture value reads nothing of it", { skip: nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)' }, async () => {
  const fatbin = kernelsFatbin();
  const ownerVm = addVm('tex-owner');
  const owner = startGuest(m.server, ownerVm, prog, ['own']);
  const value = /^texture (\d+)$/.exec(await owner.waitFor(/^texture \d+$/))![1]!;
  try {
    // Another VM, and another session of the same VM: each has its own executor and objects.
    for (const token of [addVm('tex-forger'), ownerVm]) {
      const forger = startGuest(m.server, token, prog, ['forge', value, fatbin]);
      assert.equal(await forger.done, 0, forger.stderr());
      const forged = forger.lines.find((l) => l.startsWith('forged '));
      assert.equal(forged, `forged ${CUDA_ERROR_ILLEGAL_ADDRESS} 0`, 'the launch fails and reads no texel');
      assert.equal(forger.lines.find((l) => l.startsWith('own ')), 'own 0 42', "the session's own texture works");
    }
  } finally {
    owner.release();
  }
  assert.equal(await owner.done, 0, owner.stderr());
});

test("CUDA arrays count toward the VM's memory quota", async () => {
  const g = startGuest(m.server, addVm('tex-quota', '--memory', '64M'), prog, ['arrays', '24', '3']);
  assert.equal(await g.done, 0, g.stderr());
  assert.deepEqual(g.lines, ['array 0 -> 0', 'array 1 -> 0', `array 2 -> ${CUDA_ERROR_OUT_OF_MEMORY}`]);
});
